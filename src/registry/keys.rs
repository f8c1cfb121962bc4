//! API keys: creation, hashing, and the edge's cached lookup.
//!
//! A key reads `dp_<id>_<secret>`. The id is public and indexes the row; the
//! stored form is SHA-256 of the whole key, compared in constant time. Keys
//! are random 190-bit secrets, so a fast hash is the right one (a slow
//! password hash buys nothing against a 2^190 search and would cost every
//! request). Plaintext exists only in the `keys create` output.
//!
//! The edge sees keys through a moka cache keyed by id: a hit costs one
//! SHA-256 and no I/O; unknown ids are cached too, for a shorter time, so a
//! flood of bad keys cannot turn into a flood of ClickHouse queries.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::lookups::LookupBudget;
use super::slug::Slug;
use crate::telemetry::catalogue::Counter;

const PREFIX: &str = "dp_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 32;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends data (an SDK write key).
    Write,
    /// Manages projects and keys.
    Owner,
    /// Manages projects.
    Admin,
    /// Sends and reads.
    Member,
}

impl Role {
    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "write" => Some(Role::Write),
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Write => "write",
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// An authenticated key: who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Public key id.
    pub key_id: String,
    /// The org the key belongs to.
    pub org: Arc<str>,
    /// Set for project-scoped keys: the only project it may write.
    pub project: Option<Slug>,
    /// What it may do.
    pub role: Role,
}

/// A stored key, as the cache holds it.
#[derive(Debug)]
struct KeyRecord {
    principal: Principal,
    hash: [u8; 32],
    revoked: bool,
}

/// A key just created: the only time its full value exists.
#[derive(Debug)]
pub struct NewKey {
    /// The full key, to show once.
    pub secret: String,
    /// Its identity.
    pub principal: Principal,
}

/// Why authentication failed. The edge maps all of these but `Unavailable` to 401.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing Authorization: Bearer <write key>")]
    Missing,
    /// Malformed, unknown, revoked, or wrong secret: deliberately one answer.
    #[error("invalid API key")]
    Invalid,
    /// The key store could not be asked and the key is not cached.
    #[error("key store unavailable: {0}")]
    Unavailable(String),
    /// The key id is unknown here and its source has used its lookups for
    /// this minute (`edge.key_lookups_per_source_per_minute`); retry after
    /// the seconds given.
    #[error("too many unknown API keys from this address; retry in {0} s")]
    TooManyLookups(u32),
}

/// Why a key id could not be loaded.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("{0}")]
    Db(clickhouse::error::Error),
    #[error("lookup budget used")]
    Refused(u32),
}

/// Why a key could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("storing key: {0}")]
pub struct KeyStoreError(#[from] clickhouse::error::Error);

#[derive(Debug, clickhouse::Row, Deserialize)]
struct KeyRow {
    org: String,
    project: String,
    role: String,
    secret_hash: String,
    revoked: u8,
}

type Cached = Option<Arc<KeyRecord>>;

struct KeyExpiry {
    hit: Duration,
    miss: Duration,
}

impl Expiry<String, Cached> for KeyExpiry {
    fn expire_after_create(&self, _: &String, value: &Cached, _: Instant) -> Option<Duration> {
        Some(if value.is_some() { self.hit } else { self.miss })
    }
}

/// Keys in ClickHouse, cached for the edge.
#[derive(Clone)]
pub struct KeyStore {
    db: clickhouse::Client,
    cache: moka::future::Cache<String, Cached>,
    /// The last record loaded per key id and when, served while ClickHouse
    /// is unreachable, for at most `stale_grace` after it was loaded.
    last_loaded: std::sync::Arc<dashmap::DashMap<String, (Cached, std::time::Instant)>>,
    stale_grace: Duration,
    /// Lookups of key ids never loaded here, per source.
    lookups: LookupBudget,
}

impl KeyStore {
    /// A store over `db`; hits live `hit_ttl`, misses `miss_ttl`; during an
    /// outage a key loaded less than `stale_grace` ago is still served (a
    /// revocation made during an outage therefore holds within that bound).
    /// A source may cause `lookups` registry lookups of key ids never
    /// loaded here per minute.
    pub fn new(
        db: clickhouse::Client,
        hit_ttl: Duration,
        miss_ttl: Duration,
        stale_grace: Duration,
        lookups: LookupBudget,
    ) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(100_000)
            .expire_after(KeyExpiry {
                hit: hit_ttl,
                miss: miss_ttl,
            })
            .build();
        Self {
            db,
            cache,
            last_loaded: Default::default(),
            stale_grace,
            lookups,
        }
    }

    /// Authenticates the value of an `Authorization` header sent from
    /// `source` (none: no per-source budget applies).
    pub async fn authenticate(
        &self,
        header: Option<&[u8]>,
        source: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix(b"Bearer ")
            .or_else(|| header.strip_prefix(b"bearer "))
            .ok_or(AuthError::Missing)?;
        let token = std::str::from_utf8(token)
            .map_err(|_| AuthError::Invalid)?
            .trim();
        let key_id = key_id_of(token).ok_or(AuthError::Invalid)?;
        let record = self
            .cache
            .try_get_with(key_id.to_string(), self.load(key_id.to_string(), source))
            .await
            .or_else(|e| match (&*e, self.last_loaded.get(key_id)) {
                (LoadError::Refused(wait), _) => Err(AuthError::TooManyLookups(*wait)),
                // A registry outage must not stop ingest for keys already
                // known, but only within the grace period.
                (LoadError::Db(_), Some(known)) if known.1.elapsed() <= self.stale_grace => {
                    Counter::registry_stale("key").increment(1);
                    Ok(known.0.clone())
                }
                (LoadError::Db(e), _) => Err(AuthError::Unavailable(e.to_string())),
            })?
            .ok_or(AuthError::Invalid)?;
        let presented = hash(token);
        if !bool::from(presented.ct_eq(&record.hash)) || record.revoked {
            return Err(AuthError::Invalid);
        }
        Ok(record.principal.clone())
    }

    /// Loads `key_id` from the registry: runs only on a cache miss. An id
    /// never loaded here is charged to its source's lookup budget (a key
    /// this edge knows reloads freely when its cache entry expires).
    async fn load(&self, key_id: String, source: Option<IpAddr>) -> Result<Cached, LoadError> {
        if let Some(source) = source
            && !self.last_loaded.contains_key(&key_id)
        {
            self.lookups.take(source).map_err(LoadError::Refused)?;
        }
        self.fetch(key_id).await.map_err(LoadError::Db)
    }

    async fn fetch(&self, key_id: String) -> Result<Cached, clickhouse::error::Error> {
        let row: Option<KeyRow> = self
            .db
            .query(
                // Revocation is sticky: any revoked row revokes the key, so a
                // clock-skewed version can never bring a revoked key back.
                "SELECT any(org), any(project), any(role), any(secret_hash), max(revoked) FROM keys \
                 WHERE key_id = ? GROUP BY key_id",
            )
            .bind(&key_id)
            .fetch_optional()
            .await?;
        let record = row
            .and_then(|row| record_from_row(key_id.clone(), row))
            .map(Arc::new);
        // Only known keys: unknown ids must not grow this map (a flood of bad keys).
        if record.is_some() {
            self.last_loaded
                .insert(key_id, (record.clone(), std::time::Instant::now()));
        }
        Ok(record)
    }

    /// Creates and stores a key; returns its full value once.
    pub async fn create(
        &self,
        org: &str,
        project: Option<&Slug>,
        role: Role,
    ) -> Result<NewKey, KeyStoreError> {
        // The thread-local RNG is not Send: keep it out of the awaits below.
        let id = public_id(ID_LEN);
        let secret_part: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(SECRET_LEN)
            .map(char::from)
            .collect();
        let secret = format!("{PREFIX}{id}_{secret_part}");
        let version = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
        self.db
            .query(
                "INSERT INTO keys (key_id, org, project, role, secret_hash, revoked, version) \
                 VALUES (?, ?, ?, ?, ?, 0, ?)",
            )
            .bind(&id)
            .bind(org)
            .bind(project.map(Slug::as_str).unwrap_or(""))
            .bind(role.as_str())
            .bind(to_hex(&hash(&secret)))
            .bind(version)
            .execute()
            .await?;
        let principal = Principal {
            key_id: id,
            org: org.into(),
            project: project.cloned(),
            role,
        };
        Ok(NewKey { secret, principal })
    }
}

/// A random public id of `len` lowercase letters and digits (key ids,
/// policy ids): shown in URLs and listings, never a secret.
pub fn public_id(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}

/// A key as listings show it: never the secret.
#[derive(Debug, Clone, serde::Serialize, clickhouse::Row, Deserialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// Public id.
    pub id: String,
    /// The key's visible start, `dp_<id>_…`.
    pub prefix: String,
    /// Project the key is scoped to, empty for org keys.
    pub project: String,
    /// Role name.
    pub role: String,
    /// Creation time, seconds since the epoch.
    pub created_at: u32,
    /// Whether it was revoked.
    pub revoked: bool,
}

impl KeyStore {
    /// The keys of `org`, optionally only those scoped to `project`, newest first.
    pub async fn list(
        &self,
        org: &str,
        project: Option<&Slug>,
    ) -> Result<Vec<KeyInfo>, KeyStoreError> {
        Ok(self
            .db
            .query(
                "SELECT key_id, concat('dp_', key_id, '_…'), any(project), any(role), \
                 toUInt32(min(created_at)) AS first_created, max(revoked) = 1 FROM keys \
                 WHERE org = ? AND (? = '' OR project = ?) GROUP BY key_id ORDER BY first_created DESC, key_id",
            )
            .bind(org)
            .bind(project.map(Slug::as_str).unwrap_or(""))
            .bind(project.map(Slug::as_str).unwrap_or(""))
            .fetch_all()
            .await?)
    }

    /// Revokes key `key_id` of `org` (and only of `org`); false if there is no such key.
    /// Edges stop accepting it once their cached copy expires (`edge.key_cache_ttl_ms`).
    pub async fn revoke(
        &self,
        org: &str,
        project: Option<&Slug>,
        key_id: &str,
    ) -> Result<bool, KeyStoreError> {
        let keys = self.list(org, project).await?;
        if !keys.iter().any(|k| k.id == key_id) {
            return Ok(false);
        }
        // The top bit outranks every create's clock-based version, so the
        // revocation wins even against a writer whose clock ran ahead.
        let version = crate::registry::projects::FINAL_STATE_BIT
            | u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
        self.db
            .query(
                "INSERT INTO keys (key_id, org, project, role, secret_hash, revoked, version, created_at) \
                 SELECT key_id, org, project, role, secret_hash, 1, ?, created_at FROM keys FINAL \
                 WHERE key_id = ? AND org = ?",
            )
            .bind(version)
            .bind(key_id)
            .bind(org)
            .execute()
            .await?;
        self.cache.invalidate(key_id).await;
        self.last_loaded.remove(key_id);
        Ok(true)
    }
}

/// The public id of a well-formed key.
fn key_id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let secret_ok = secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    (id_ok && secret_ok).then_some(id)
}

fn record_from_row(key_id: String, row: KeyRow) -> Option<KeyRecord> {
    let role = Role::parse(&row.role)?;
    let project = if row.project.is_empty() {
        None
    } else {
        Some(Slug::parse(&row.project).ok()?)
    };
    let mut hash = [0u8; 32];
    from_hex(&row.secret_hash, &mut hash)?;
    let principal = Principal {
        key_id,
        org: row.org.into(),
        project,
        role,
    };
    Some(KeyRecord {
        principal,
        hash,
        revoked: row.revoked != 0,
    })
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str, out: &mut [u8; 32]) -> Option<()> {
    if s.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_parsed_only_from_well_formed_keys() {
        let key = format!("dp_{}_{}", "a".repeat(16), "B".repeat(32));
        assert_eq!(key_id_of(&key), Some("aaaaaaaaaaaaaaaa"));
        for bad in [
            "",
            "dp_",
            "Bearer x",
            "dp_short_x",
            &format!("dp_{}_{}", "A".repeat(16), "b".repeat(32)),
        ] {
            assert_eq!(key_id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn hex_round_trips() {
        let h = hash("dp_x");
        let mut back = [0u8; 32];
        assert!(from_hex(&to_hex(&h), &mut back).is_some());
        assert_eq!(h, back);
        assert!(from_hex("zz", &mut back).is_none());
    }
}
