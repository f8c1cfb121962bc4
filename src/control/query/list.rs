//! How every list of the Query API pages: `limit` (1 to `MAX_LIMIT`),
//! `order_by` (`-timestamp`, newest first, the default; or `timestamp`) and
//! `cursor` (from the previous page's `meta.cursor`), answered as
//! `{data, meta: {cursor, has_more}}`.
//!
//! Invariants: keyset paging on (time, id), both columns of the listed
//! rows; the page is fetched one row long (`Select::page`), and that extra
//! row alone decides `has_more`. Column names are constants of the callers.

use serde::Serialize;
use utoipa::ToSchema;

use super::filter::{Filters, Shape};
use super::params::{self, Cursor};
use super::sql::{Arg, Select};
use crate::http::ApiError;

/// The paging parameters every list takes.
pub const PARAMS: &[(&str, Shape)] = &[
    ("limit", Shape::Plain),
    ("cursor", Shape::Plain),
    ("order_by", Shape::Plain),
];

/// Rows per page when `limit` is not given (the SDK's default).
pub const DEFAULT_LIMIT: u32 = 50;

/// A list that takes no filters: [`PARAMS`] alone.
pub fn params_only() -> Vec<(&'static str, Shape)> {
    PARAMS.to_vec()
}

/// `PARAMS` followed by an endpoint's own.
pub fn params(own: &[(&'static str, Shape)]) -> Vec<(&'static str, Shape)> {
    let mut all = PARAMS.to_vec();
    all.extend_from_slice(own);
    all
}

/// One page of a list: the SDK's `{data, meta}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    /// The rows, in the order asked for.
    pub data: Vec<T>,
    /// Where the next page starts.
    pub meta: Meta,
}

/// A page's continuation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Meta {
    /// The `cursor` of the next page; null on the last page.
    pub cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
}

/// One list request's paging.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Rows per page.
    pub limit: u32,
    /// Where the page starts.
    pub cursor: Option<Cursor>,
    /// Newest first (`-timestamp`) or oldest first.
    pub newest_first: bool,
}

impl Listing {
    /// Reads `limit`, `cursor` and `order_by`; a bad one is a 400 naming it.
    pub fn parse(f: &Filters) -> Result<Listing, ApiError> {
        let newest_first = match f.plain("order_by").unwrap_or("-timestamp") {
            "-timestamp" => true,
            "timestamp" => false,
            _ => {
                return Err(ApiError::bad_request(
                    "order_by",
                    "must be -timestamp (newest first) or timestamp",
                )
                .with_allowed(&["-timestamp", "timestamp"]));
            }
        };
        Ok(Listing {
            limit: params::limit(f.plain("limit"), DEFAULT_LIMIT)?,
            cursor: f.plain("cursor").map(Cursor::decode).transpose()?,
            newest_first,
        })
    }

    /// `q` from the cursor on, ordered by (`time`, `id`), one page long.
    /// `time` and `id` are constant column names.
    pub fn page(&self, q: Select, time: &str, id: &str) -> Select {
        self.paged(q, time, id, "")
    }

    /// [`Listing::page`] over rows that may repeat (unmerged copies of one
    /// row, read without `FINAL`): one row per `id` (`LIMIT 1 BY`).
    pub fn page_once(&self, q: Select, time: &str, id: &str) -> Select {
        self.paged(q, time, id, &format!(" LIMIT 1 BY {id}"))
    }

    fn paged(&self, mut q: Select, time: &str, id: &str, once: &str) -> Select {
        let (cmp, dir) = if self.newest_first {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(c) = &self.cursor {
            // Spelled out: ClickHouse 18.16 has no tuple comparison.
            q.and_sql(
                format!("({time} {cmp} ? OR ({time} = ? AND {id} {cmp} ?))"),
                vec![
                    Arg::Number(c.ms),
                    Arg::Number(c.ms),
                    Arg::Text(c.id.clone()),
                ],
            );
        }
        q.page(
            &format!(" ORDER BY {time} {dir}, {id} {dir}{once}"),
            self.limit,
        )
    }

    /// Cuts the fetched rows to the page and answers `{data, meta}`.
    pub fn answer<R, T: ToSchema>(
        &self,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> (u64, &String),
        to_item: impl FnMut(R) -> T,
    ) -> Page<T> {
        let cursor = params::cut_page(&mut rows, self.limit, key);
        let has_more = cursor.is_some();
        Page {
            data: rows.into_iter().map(to_item).collect(),
            meta: Meta { cursor, has_more },
        }
    }
}
