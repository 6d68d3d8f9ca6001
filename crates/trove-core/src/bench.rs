//! Items only the benchmarks may use, compiled only with the `bench` feature (which only
//! trove-bench turns on): the unencrypted baseline database.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::record::{add_batch_on, get_record, NewRecord, Record};
use crate::search::search_on;
use crate::vault::{configure, open_file, DB_FILE, KEY_FILE};

/// **For benchmarks only: NOT a vault and NOT encrypted.** A plain SQLite database with
/// the vault's exact schema (the same [`MIGRATIONS`]), the same pragmas and the same
/// record statements (it calls the very functions [`Vault`] calls), opened without any
/// `PRAGMA key`, so that trove-bench can measure what encryption costs against a baseline
/// built by the same SQLCipher library in the same run. SQLCipher without a key is plain
/// SQLite: the file starts with `SQLite format 3`.
///
/// It cannot open a vault by accident: it only ever *creates* a new file, refuses a path
/// that exists or that lies in a directory holding a vault key file, and it is a separate
/// type, so no vault operation (grants, sharing, export) accepts it. Compiled only with
/// the `bench` feature (trove-bench's), never into what ships.
#[doc(hidden)]
pub struct UnencryptedBenchBaseline {
    conn: Connection,
}

impl UnencryptedBenchBaseline {
    /// Creates a new, unencrypted benchmark database at `path` (see the type's docs).
    pub fn create_unencrypted_for_benchmark(path: &Path) -> Result<Self> {
        if path.exists() {
            return Err(Error::InvalidInput(format!(
                "{} exists; the benchmark baseline only creates new files",
                path.display()
            )));
        }
        let parent = path.parent().unwrap_or(Path::new("."));
        if parent.join(KEY_FILE).exists() || path.file_name() == Some(DB_FILE.as_ref()) {
            return Err(Error::InvalidInput(format!(
                "{} looks like a vault; the benchmark baseline must live elsewhere",
                path.display()
            )));
        }
        let conn = open_file(path)?;
        configure(&conn)?;
        crate::open::migrate(&conn)?;
        Ok(UnencryptedBenchBaseline { conn })
    }

    /// The open (unencrypted) connection.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// [`Vault::add_batch`] on this database: the same validation and statements.
    pub fn add_batch(&self, news: impl IntoIterator<Item = NewRecord>) -> Result<Vec<String>> {
        add_batch_on(&self.conn, news)
    }

    /// [`Vault::get`] on this database.
    pub fn get(&self, id: &str) -> Result<Record> {
        get_record(&self.conn, id)?.ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// [`Vault::search`] on this database.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Record>> {
        search_on(&self.conn, query, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::tests::new_vault;

    #[test]
    fn benchmark_baseline_is_plain_sqlite_with_the_vault_schema_and_never_opens_a_vault() {
        let (dir, v) = new_vault();
        let vault_dir = dir.path().join("v");
        let path = dir.path().join("baseline.db");
        let b = UnencryptedBenchBaseline::create_unencrypted_for_benchmark(&path).unwrap();
        let schema = |c: &Connection| -> Vec<(String, Option<String>)> {
            c.prepare("SELECT name, sql FROM sqlite_master ORDER BY name")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(schema(b.conn()), schema(v.conn()), "same schema as a vault");
        let ids = b
            .add_batch(crate::demo::random_records(5, 50))
            .expect("same batch path");
        assert_eq!(b.get(&ids[7]).unwrap().id, ids[7]);
        drop(b);
        let head = std::fs::read(&path).unwrap();
        assert!(
            head.starts_with(b"SQLite format 3\0"),
            "baseline is plain SQLite"
        );
        let vault_head = std::fs::read(vault_dir.join(DB_FILE)).unwrap();
        assert!(
            !vault_head.starts_with(b"SQLite format 3"),
            "vault is encrypted"
        );
        drop(v);
        for refused in [
            path.clone(),
            vault_dir.join(DB_FILE),
            vault_dir.join("x.db"),
        ] {
            assert!(
                UnencryptedBenchBaseline::create_unencrypted_for_benchmark(&refused).is_err(),
                "{} must be refused",
                refused.display()
            );
        }
    }
}
