//! The one place a Kafka client's connection settings are made: brokers,
//! TLS and SASL, the same for the producer, the consumers, the dead-letter
//! producer and the admin client of `migrate`.
//!
//! Invariant: the SASL password goes only into librdkafka's configuration;
//! a `ClientConfig` holds it in clear and is never logged (its `Debug`
//! prints every property).

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// A client configuration that reaches `cfg.brokers` as `cfg.security` says;
/// the caller adds the properties of its role.
pub fn config(cfg: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    let security = &cfg.security;
    client
        .set("bootstrap.servers", &cfg.brokers)
        .set("security.protocol", security.security_protocol.as_str());
    if !cfg.debug.is_empty() {
        client.set("debug", &cfg.debug);
    }
    if let Some(ca) = &security.ssl_ca_location {
        client.set("ssl.ca.location", ca.to_string_lossy());
    }
    if security.security_protocol.uses_sasl() {
        client
            .set("sasl.mechanism", &security.sasl_mechanism)
            .set("sasl.username", &security.sasl_username)
            .set("sasl.password", &security.sasl_password);
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, KafkaProtocol};

    #[test]
    fn plaintext_sets_no_sasl_property() {
        let client = config(&Config::default().kafka);
        assert_eq!(client.get("security.protocol"), Some("plaintext"));
        assert_eq!(client.get("sasl.password"), None);
        assert_eq!(client.get("ssl.ca.location"), None);
    }

    #[test]
    fn sasl_ssl_sets_the_mechanism_the_credentials_and_the_ca() {
        let mut kafka = Config::default().kafka;
        kafka.security.security_protocol = KafkaProtocol::SaslSsl;
        kafka.security.sasl_mechanism = "SCRAM-SHA-512".into();
        kafka.security.sasl_username = "downpour".into();
        kafka.security.sasl_password = "pw".into();
        kafka.security.ssl_ca_location = Some("/tmp/ca.pem".into());
        let client = config(&kafka);
        assert_eq!(client.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(client.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(client.get("sasl.username"), Some("downpour"));
        assert_eq!(client.get("sasl.password"), Some("pw"));
        assert_eq!(client.get("ssl.ca.location"), Some("/tmp/ca.pem"));
    }
}
