//! The macro the metric catalogue (`catalogue.rs`) is written with.
//!
//! One declaration per metric yields its enum variant, its exported name,
//! its `# HELP` text, its label keys, its buckets (histograms only), and a
//! typed constructor whose parameters are exactly those label keys, in that
//! order. Invariant: a metric is registered only through its constructor, so
//! it always carries the same label keys; the constructors call the
//! `metrics` macros, which keep a metric without labels a static key.

/// Declares one kind of metric (`counter`, `gauge` or `histogram`).
macro_rules! metric_kind {
    // Histograms: every variant names its buckets.
    (
        $(#[$enum_meta:meta])*
        pub enum $kind:ident: histogram -> $handle:ty {
            $(
                $(#[$meta:meta])*
                $variant:ident = $name:literal,
                fn $fn_name:ident($($label:ident),*),
                $help:literal,
                buckets: $buckets:expr;
            )+
        }
    ) => {
        metric_kind! {
            $(#[$enum_meta])*
            pub enum $kind: histogram -> $handle {
                $(
                    $(#[$meta])*
                    $variant = $name,
                    fn $fn_name($($label),*),
                    $help;
                )+
            }
        }

        impl $kind {
            /// The upper bounds of the exported `_bucket` series, ascending.
            pub const fn buckets(self) -> &'static [f64] {
                match self {
                    $($kind::$variant => $buckets,)+
                }
            }
        }
    };
    (
        $(#[$enum_meta:meta])*
        pub enum $kind:ident: $register:ident -> $handle:ty {
            $(
                $(#[$meta:meta])*
                $variant:ident = $name:literal,
                fn $fn_name:ident($($label:ident),*),
                $help:literal;
            )+
        }
    ) => {
        $(#[$enum_meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $kind {
            $($(#[$meta])* $variant,)+
        }

        impl $kind {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$kind] = &[$($kind::$variant),+];

            /// The name exported to Prometheus.
            pub const fn name(self) -> &'static str {
                match self {
                    $($kind::$variant => $name,)+
                }
            }

            /// The `# HELP` text.
            pub const fn description(self) -> &'static str {
                match self {
                    $($kind::$variant => $help,)+
                }
            }

            /// The label keys, in the order the constructor takes their values.
            pub const fn labels(self) -> &'static [&'static str] {
                match self {
                    $($kind::$variant => &[$(stringify!($label)),*],)+
                }
            }

            /// Every metric's handle, each label's value being its key (tests).
            #[cfg(test)]
            pub(crate) fn samples() -> Vec<($kind, $handle)> {
                vec![$(($kind::$variant, $kind::$fn_name($(stringify!($label)),*))),+]
            }

            $(
                #[doc = concat!("The handle of `", $name, "`: ", $help)]
                pub fn $fn_name($($label: impl Into<::metrics::SharedString>),*) -> $handle {
                    ::metrics::$register!($name $(, stringify!($label) => $label)*)
                }
            )+
        }
    };
}

pub(super) use metric_kind;
