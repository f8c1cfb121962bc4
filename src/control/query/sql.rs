//! A SELECT built from constant SQL fragments and bound values, kept in
//! step: a fragment carries one `?` per value, and every value goes through
//! the clickhouse crate's `.bind()` (quoted and escaped). No caller-supplied
//! text ever becomes SQL.

use super::Scope;
use crate::http::ApiError;

/// A value bound to one `?`.
#[derive(Debug, Clone)]
pub enum Arg {
    /// A string, quoted and escaped by the crate.
    Text(String),
    /// An unsigned integer.
    Number(u64),
    /// A float (numeric property filters).
    Float(f64),
}

/// A condition put inside each branch of [`Select::new`] (column names are
/// constants).
#[derive(Debug, Clone)]
pub enum Narrow {
    /// `column = value`.
    Eq(&'static str, String),
    /// `column >= n`.
    AtLeast(&'static str, u64),
    /// `column <= n`.
    AtMost(&'static str, u64),

    /// `PREWHERE column IN (values)`: read that column first and the others
    /// only for the rows it keeps (a few ids scattered over a table whose
    /// granules hold thousands of rows). Values must not be empty.
    PreIn(&'static str, Vec<String>),
}

/// A SELECT built from constant fragments and bound values, kept in step.
pub struct Select {
    sql: String,
    args: Vec<Arg>,
    conditions: usize,
    /// Length of the leading `SELECT columns` (for [`Select::outer`]).
    head: usize,
}

impl Select {
    /// `SELECT columns FROM (one branch per table, each scoped)`; `narrow`
    /// adds its conditions inside each branch, on the table's rows (so the
    /// sorting key prunes before any merge: an id, a user, a time window).
    pub fn new(
        columns: &'static str,
        tables: &[&'static str],
        scope: &Scope,
        narrow: &[Narrow],
    ) -> Select {
        let mut args = Vec::new();
        let branches: Vec<String> = tables
            .iter()
            .map(|table| {
                let mut branch = format!("SELECT {columns} FROM {table}");
                for n in narrow {
                    if let Narrow::PreIn(column, values) = n {
                        let marks = vec!["?"; values.len().max(1)].join(", ");
                        branch.push_str(&format!(" PREWHERE {column} IN ({marks})"));
                        args.extend(values.iter().map(|v| Arg::Text(v.clone())));
                        if values.is_empty() {
                            args.push(Arg::Text(String::new()));
                        }
                    }
                }
                args.push(Arg::Text(scope.org.to_string()));
                args.push(Arg::Text(scope.project.as_str().to_string()));
                branch.push_str(" WHERE org = ? AND project = ?");
                for n in narrow {
                    let (column, op, arg) = match n {
                        Narrow::Eq(column, value) => (column, "=", Arg::Text(value.clone())),
                        Narrow::AtLeast(column, n) => (column, ">=", Arg::Number(*n)),
                        Narrow::AtMost(column, n) => (column, "<=", Arg::Number(*n)),

                        Narrow::PreIn(..) => continue,
                    };
                    branch.push_str(&format!(" AND {column} {op} ?"));
                    args.push(arg);
                }
                branch
            })
            .collect();
        Select {
            sql: format!("SELECT {columns} FROM ({})", branches.join(" UNION ALL ")),
            args,
            conditions: 0,
            head: "SELECT ".len() + columns.len(),
        }
    }

    /// `SELECT columns FROM (source)`: a source composed of constant SQL
    /// (a grouped subquery, say) with its bound values in order.
    pub fn over(columns: &str, source: &str, args: Vec<Arg>) -> Select {
        Select {
            sql: format!("SELECT {columns} FROM ({source})"),
            args,
            conditions: 0,
            head: "SELECT ".len() + columns.len(),
        }
    }

    /// The SQL and its values, to nest this query in another
    /// ([`Select::over`]).
    pub fn into_source(self) -> (String, Vec<Arg>) {
        (self.sql, self.args)
    }

    /// Appends constant SQL after the conditions (`GROUP BY ...`, an
    /// `ORDER BY` without a page).
    pub fn tail(mut self, sql: &str, args: impl IntoIterator<Item = Arg>) -> Select {
        self.sql.push_str(sql);
        self.args.extend(args);
        self
    }

    /// The same query selecting `expr` (an aggregate, say) over the
    /// branches' columns.
    pub fn outer(mut self, expr: &str) -> Select {
        self.sql
            .replace_range(..self.head, &format!("SELECT {expr}"));
        self.head = "SELECT ".len() + expr.len();
        self
    }

    /// Appends `fragment` (a constant with one `?` per value) and its values.
    pub fn and(&mut self, fragment: &'static str, args: impl IntoIterator<Item = Arg>) {
        self.and_sql(fragment.to_string(), args.into_iter().collect());
    }

    /// [`Select::and`] for a fragment composed of constant pieces (column
    /// names, operators, `?`s); never of a caller's text.
    pub fn and_sql(&mut self, fragment: String, args: Vec<Arg>) {
        self.sql.push_str(if self.conditions == 0 {
            " WHERE "
        } else {
            " AND "
        });
        self.conditions += 1;
        self.sql.push_str(&fragment);
        self.args.extend(args);
    }

    /// The SQL text and how many values it binds (tests).
    #[cfg(test)]
    pub fn parts(&self) -> (&str, usize) {
        (&self.sql, self.args.len())
    }

    /// Appends `order` and a LIMIT one row beyond `limit`: the extra row
    /// tells whether there is a next page.
    pub fn page(mut self, order: &str, limit: u32) -> Select {
        self.sql.push_str(order);
        self.sql.push_str(" LIMIT ?");
        self.args.push(Arg::Number(u64::from(limit) + 1));
        self
    }

    /// Runs the query; a ClickHouse failure is a 503 (input never causes one).
    pub async fn fetch<T>(self, db: &clickhouse::Client) -> Result<Vec<T>, ApiError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        self.fetch_or(db, |_| None).await
    }

    /// [`Select::fetch`], where `refused` may turn ClickHouse's error text
    /// into a 4xx (a pattern ClickHouse cannot compile, say); anything it
    /// leaves is a 503.
    pub async fn fetch_or<T>(
        self,
        db: &clickhouse::Client,
        refused: impl Fn(&str) -> Option<ApiError>,
    ) -> Result<Vec<T>, ApiError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let mut query = db.query(&self.sql);
        for arg in self.args {
            query = match arg {
                Arg::Text(s) => query.bind(s),
                Arg::Number(n) => query.bind(n),
                Arg::Float(f) => query.bind(f),
            };
        }
        query.fetch_all::<T>().await.map_err(|e| {
            if let Some(answer) = refused(&e.to_string()) {
                return answer;
            }
            tracing::warn!(error = %e, "query API read failed");
            ApiError::unavailable("event store unavailable, retry shortly")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::slug::Slug;

    #[test]
    fn values_are_bound_never_spliced() {
        let hostile = "' OR 1=1 -- ?";
        let scope = Scope::for_test(hostile, Slug::default_project());
        let mut q = Select::new(
            "a, b",
            &["t FINAL", "u"],
            &scope,
            &[Narrow::Eq("id", hostile.into())],
        );
        q.and("b = ?", [Arg::Text(hostile.into())]);
        q.and(
            "(a < ? OR (a = ? AND b < ?))",
            [Arg::Number(1), Arg::Number(1), Arg::Text(hostile.into())],
        );
        let q = q.page(" ORDER BY a DESC", 10);
        assert!(!q.sql.contains(hostile) && !q.sql.contains("default"));
        assert_eq!(q.sql.matches('?').count(), q.args.len());
        assert_eq!(
            q.sql,
            "SELECT a, b FROM (SELECT a, b FROM t FINAL WHERE org = ? AND project = ? AND id = ? UNION ALL \
             SELECT a, b FROM u WHERE org = ? AND project = ? AND id = ?) WHERE b = ? AND \
             (a < ? OR (a = ? AND b < ?)) ORDER BY a DESC LIMIT ?"
        );
    }
    #[test]
    fn narrowing_goes_inside_each_branch_prewhere_first() {
        let scope = Scope::for_test("acme", Slug::default_project());
        let q = Select::new(
            "a",
            &["t"],
            &scope,
            &[
                Narrow::AtLeast("ts", 5),
                Narrow::PreIn("id", vec!["x".into(), "y".into()]),
            ],
        );
        let (sql, args) = q.parts();
        assert_eq!(
            sql,
            "SELECT a FROM (SELECT a FROM t PREWHERE id IN (?, ?) WHERE org = ? AND project = ? \
                          AND ts >= ?)"
        );
        assert_eq!(args, 5);
    }
}
