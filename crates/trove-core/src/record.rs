//! Records: typed, validated personal data with tags, provenance and times, plus the
//! full-text index over every field value and tag.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::grant::{FieldSet, Scope};
use crate::schema::record_type;
use crate::vault::Vault;

/// A stored record, as every API and file format shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub fields: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A record to be added: the vault assigns id and times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRecord {
    #[serde(rename = "type")]
    pub record_type: String,
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "manual")]
    pub source: String,
}

fn manual() -> String {
    "manual".into()
}

impl NewRecord {
    /// A manual record of `record_type` with `fields`.
    pub fn new(record_type: &str, fields: impl IntoIterator<Item = (String, String)>) -> Self {
        NewRecord {
            record_type: record_type.into(),
            fields: fields.into_iter().collect(),
            tags: Vec::new(),
            source: manual(),
        }
    }
}

/// Changes to a record: fields to set (an empty value unsets), tags to add and remove.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecordChanges {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
}

/// Which records `list` returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListFilter {
    #[serde(default)]
    pub record_type: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    /// At most this many, newest first; `None` for all.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only records listed after the record with this id (the next page after a page
    /// ending there). An id that is not in the vault (deleted meanwhile) is
    /// [`Error::NotFound`]: start again from the first page.
    #[serde(default)]
    pub after: Option<String>,
}

/// A new record id: a ULID (time-ordered, 26 characters).
pub fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

/// Checks a tag: 1–64 characters of letters, digits and `- _ . : /`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.chars().count() <= 64
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.:/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "tag {tag:?} must be 1-64 letters, digits or - _ . : /"
        )))
    }
}

fn validate_source(source: &str) -> Result<()> {
    if source.is_empty()
        || source.len() > 64
        || source.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::InvalidInput(format!(
            "source {source:?} must be a short word like manual or import:vcard"
        )));
    }
    Ok(())
}

fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        validate_tag(t)?;
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Checks a complete record (e.g. from a bundle): id, type, fields, tags, source, times.
pub fn validate_record(r: &Record) -> Result<Record> {
    check_record(r, &FieldSet::All)
}

/// Checks a record from a scoped bundle against the scope it was exported with: its type
/// and every field in scope, tags exactly as projection leaves them (none, or the scope's
/// tag), and only the required fields the scope lets through required.
pub fn validate_projected_record(r: &Record, scope: &Scope) -> Result<Record> {
    let Some(visible) = scope.fields_for(&r.record_type) else {
        record_type(&r.record_type)?;
        return Err(Error::InvalidInput(format!(
            "a {} record is outside the bundle's scope",
            r.record_type
        )));
    };
    if !scope.allows_record(&r.id) {
        return Err(Error::InvalidInput(format!(
            "record {} is not one of the bundle's chosen records",
            r.id
        )));
    }
    let tags_ok = match &scope.only_tag {
        None => r.tags.is_empty(),
        Some(t) => r.tags.len() == 1 && &r.tags[0] == t,
    };
    if !tags_ok {
        return Err(Error::InvalidInput(format!(
            "record {}: its tags do not match the bundle's scope",
            r.id
        )));
    }
    check_record(r, &visible)
}

fn check_record(r: &Record, visible: &FieldSet) -> Result<Record> {
    if r.id.is_empty()
        || r.id.len() > 64
        || !r.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::InvalidInput(format!(
            "record id {:?} is malformed",
            r.id
        )));
    }
    let fields = record_type(&r.record_type)?.validate_within(&r.fields, visible)?;
    validate_source(&r.source)?;
    for t in [&r.created_at, &r.updated_at] {
        chrono::DateTime::parse_from_rfc3339(t).map_err(|_| {
            Error::InvalidInput(format!("record {}: time {t:?} is not RFC 3339", r.id))
        })?;
    }
    Ok(Record {
        id: r.id.clone(),
        record_type: r.record_type.clone(),
        fields,
        tags: clean_tags(&r.tags)?,
        source: r.source.clone(),
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
    })
}

const SELECT: &str = "SELECT id, type, fields, tags, source, created_at, updated_at FROM records";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Record> {
    let fields: String = row.get(2)?;
    let tags: String = row.get(3)?;
    let bad = |e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(Record {
        id: row.get(0)?,
        record_type: row.get(1)?,
        fields: serde_json::from_str(&fields).map_err(bad)?,
        tags: serde_json::from_str(&tags).map_err(bad)?,
        source: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

/// The columns a stored record derives from its content: `fields` and `tags` as JSON,
/// and the full-text body. Building them touches no database, so a bulk import builds
/// them on the thread that validates while another one writes.
pub struct DerivedColumns {
    fields: String,
    tags: String,
    /// What the full-text index holds: every field value and tag, one per line.
    fts_body: String,
}

impl DerivedColumns {
    pub fn of(r: &Record) -> Self {
        let values = || {
            r.fields
                .values()
                .map(String::as_str)
                .chain(r.tags.iter().map(String::as_str))
        };
        let mut fts_body = String::with_capacity(values().map(|v| v.len() + 1).sum());
        for v in values() {
            fts_body.push_str(v);
            fts_body.push('\n');
        }
        DerivedColumns {
            fields: serde_json::to_string(&r.fields).expect("map serializes"),
            tags: serde_json::to_string(&r.tags).expect("list serializes"),
            fts_body,
        }
    }
}

/// Inserts a complete, already validated record with a new id inside `tx`.
pub fn insert_record(tx: &Transaction<'_>, r: &Record) -> Result<()> {
    RecordInserter::new(tx)?.insert(r)
}

/// Inserts validated records in one transaction, with its statements prepared once
/// (batches and imports: no statement-cache round trip per row).
pub struct RecordInserter<'c> {
    conn: &'c rusqlite::Connection,
    insert: rusqlite::Statement<'c>,
    tag: rusqlite::Statement<'c>,
    fts: rusqlite::Statement<'c>,
}

impl<'c> RecordInserter<'c> {
    pub fn new(tx: &'c Transaction<'_>) -> Result<Self> {
        Ok(RecordInserter {
            conn: tx,
            // No RETURNING: it would need a statement journal, and every statement that
            // opens one makes FTS5 flush its pending terms (a savepoint on the virtual table).
            insert: tx.prepare(
                "INSERT INTO records (id, type, fields, tags, source, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            )?,
            tag: tx.prepare(INSERT_TAG)?,
            fts: tx.prepare(INSERT_FTS)?,
        })
    }

    /// Inserts `r` (with `cols` built from it) unless a record with its id exists:
    /// `Ok(false)` then, and nothing changed. One index lookup for a new id.
    pub fn insert_if_new(&mut self, r: &Record, cols: &DerivedColumns) -> Result<bool> {
        let inserted = self.insert.execute(stored_columns(r, cols))?;
        if inserted == 0 {
            return Ok(false);
        }
        let rowid = self.conn.last_insert_rowid();
        index_with(&mut self.tag, &mut self.fts, rowid, r, cols)?;
        Ok(true)
    }

    /// Inserts `r`, whose id must be new.
    pub fn insert(&mut self, r: &Record) -> Result<()> {
        if self.insert_if_new(r, &DerivedColumns::of(r))? {
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "a record with id {} already exists",
                r.id
            )))
        }
    }
}

const INSERT_TAG: &str = "INSERT OR IGNORE INTO record_tags (tag, rec) VALUES (?1, ?2)";
const INSERT_FTS: &str = "INSERT INTO records_fts (rowid, body) VALUES (?1, ?2)";

/// The values of a stored record's columns, in the order `id, type, fields, tags, source,
/// created_at, updated_at` (`?1`–`?7` of the insert and the update).
fn stored_columns<'a>(r: &'a Record, cols: &'a DerivedColumns) -> [&'a dyn rusqlite::ToSql; 7] {
    [
        &r.id,
        &r.record_type,
        &cols.fields,
        &cols.tags,
        &r.source,
        &r.created_at,
        &r.updated_at,
    ]
}

fn index_record(tx: &Transaction<'_>, rowid: i64, r: &Record, cols: &DerivedColumns) -> Result<()> {
    let mut tag = tx.prepare_cached(INSERT_TAG)?;
    let mut fts = tx.prepare_cached(INSERT_FTS)?;
    index_with(&mut tag, &mut fts, rowid, r, cols)
}

/// Adds the tag rows and the full-text row of the record stored at `rowid`, with the
/// [`INSERT_TAG`] and [`INSERT_FTS`] statements.
fn index_with(
    tag: &mut rusqlite::Statement<'_>,
    fts: &mut rusqlite::Statement<'_>,
    rowid: i64,
    r: &Record,
    cols: &DerivedColumns,
) -> Result<()> {
    for t in &r.tags {
        tag.execute(params![t, rowid])?;
    }
    fts.execute(params![rowid, cols.fts_body])?;
    Ok(())
}

pub(crate) fn unindex_record(tx: &Transaction<'_>, rowid: i64) -> Result<()> {
    tx.prepare_cached("DELETE FROM record_tags WHERE rec = ?1")?
        .execute([rowid])?;
    tx.prepare_cached("DELETE FROM records_fts WHERE rowid = ?1")?
        .execute([rowid])?;
    Ok(())
}

/// A record from a scoped (partial) bundle laid over the stored one: the bundle's fields
/// set or overwrite, its tags are added, and nothing it does not carry is removed (type,
/// source and `created_at` stay the stored ones; `updated_at` becomes the later of the
/// two). Pure; the caller checks the types match.
pub fn overlay_partial(stored: &Record, partial: &Record) -> Record {
    let mut out = stored.clone();
    for (k, v) in &partial.fields {
        out.fields.insert(k.clone(), v.clone());
    }
    for t in &partial.tags {
        if !out.tags.contains(t) {
            out.tags.push(t.clone());
        }
    }
    if later(&partial.updated_at, &stored.updated_at) {
        out.updated_at = partial.updated_at.clone();
    }
    out
}

/// True when RFC 3339 time `a` is after `b` (false when either does not parse).
pub(crate) fn later(a: &str, b: &str) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

/// Replaces a stored record (same id) with `r` inside `tx`: fields, tags, source and
/// times all come from `r`.
pub fn replace_record(tx: &Transaction<'_>, r: &Record, cols: &DerivedColumns) -> Result<()> {
    let rowid: i64 = tx
        .query_row("SELECT rowid FROM records WHERE id = ?1", [&r.id], |row| {
            row.get(0)
        })
        .optional()?
        .ok_or_else(|| Error::NotFound(r.id.clone()))?;
    unindex_record(tx, rowid)?;
    // ?1 is the id, unchanged: the row was found by it.
    tx.prepare_cached(
        "UPDATE records SET type = ?2, fields = ?3, tags = ?4, source = ?5, created_at = ?6, updated_at = ?7 WHERE rowid = ?8 AND id = ?1",
    )?
    .execute(rusqlite::params_from_iter(
        stored_columns(r, cols).into_iter().chain([&rowid as &dyn rusqlite::ToSql]),
    ))?;
    index_record(tx, rowid, r, cols)
}

/// [`Vault::add_batch`] on any connection with the vault schema.
pub(crate) fn add_batch_on(
    conn: &rusqlite::Connection,
    news: impl IntoIterator<Item = NewRecord>,
) -> Result<Vec<String>> {
    let now = crate::now_rfc3339();
    let records = news
        .into_iter()
        .map(|n| prepare_new(n, &now))
        .collect::<Result<Vec<_>>>()?;
    crate::vault::in_transaction(conn, rusqlite::TransactionBehavior::Immediate, |tx| {
        let mut ins = RecordInserter::new(tx)?;
        for r in &records {
            ins.insert(r)?;
        }
        Ok(())
    })?;
    Ok(records.into_iter().map(|r| r.id).collect())
}

fn prepare_new(new: NewRecord, now: &str) -> Result<Record> {
    let ty = record_type(&new.record_type)?;
    validate_source(&new.source)?;
    Ok(Record {
        id: new_id(),
        record_type: ty.name.clone(),
        fields: ty.validate(&new.fields)?,
        tags: clean_tags(&new.tags)?,
        source: new.source,
        created_at: now.to_string(),
        updated_at: now.to_string(),
    })
}

/// The most matches a search ranks. A query matching more records (a very common word)
/// is ranked among its newest `SEARCH_CANDIDATES` matches, which keeps search time
/// bounded however large the vault grows; a rarer query is ranked over all its matches.
pub const SEARCH_CANDIDATES: usize = 500;

/// BM25's term-frequency saturation and length normalization (the usual values, also
/// SQLite FTS5's).
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;

/// [`Vault::search`] on any connection with the vault schema.
///
/// FTS5 finds the matches; the ranking is BM25 computed here over at most
/// [`SEARCH_CANDIDATES`] of them. (FTS5's own `bm25()` first counts *every* row holding
/// each query word to weigh the words, which costs ~20 ms for a word in 200,000 records,
/// and ranking all matches of such a word costs ~0.6 s.)
/// 1. If the words, matched exactly, are in at least `SEARCH_CANDIDATES` records, the
///    candidates are the newest that many of those: a prefix would only add worse matches.
/// 2. Otherwise the last word also matches as a prefix (search as you type) and the
///    candidates are the newest `SEARCH_CANDIDATES` matches of that.
///
/// Each candidate's score is BM25 over its field values and tags: term frequency and
/// record length from the record's own words, each word weighed by how rare it is in the
/// vault (its record count, counted up to a cap). Equal scores: newest first.
pub(crate) fn search_on(
    conn: &rusqlite::Connection,
    query: &str,
    limit: usize,
) -> Result<Vec<Record>> {
    let words = query_words(query);
    if words.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    if conn.is_autocommit() {
        // One snapshot and one lock for the few hundred reads below.
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)?;
        let out = ranked_search(&tx, &words, limit)?;
        tx.commit()?;
        Ok(out)
    } else {
        ranked_search(conn, &words, limit)
    }
}

fn ranked_search(
    conn: &rusqlite::Connection,
    words: &[String],
    limit: usize,
) -> Result<Vec<Record>> {
    let cap = SEARCH_CANDIDATES as i64;
    let mut count = conn.prepare_cached(
        "SELECT count(*) FROM (SELECT rowid FROM records_fts WHERE records_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2)",
    )?;
    let prefix = count.query_row(params![fts_match(words, false), cap], |r| {
        r.get::<_, i64>(0)
    })? < cap;
    let rowids: Vec<i64> = conn
        .prepare_cached(
            "SELECT rowid FROM records_fts WHERE records_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2",
        )?
        .query_map(params![fts_match(words, prefix), cap], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if rowids.is_empty() {
        return Ok(Vec::new());
    }
    // Each candidate's term counts and length, from its stored text without decoding
    // the record (only the `limit` best are decoded).
    let terms: Vec<String> = words.iter().map(|w| fold_word(w)).collect();
    let mut text = conn.prepare_cached("SELECT fields, tags FROM records WHERE rowid = ?1")?;
    let mut stats: Vec<(i64, Vec<u32>, usize)> = Vec::with_capacity(rowids.len());
    for rowid in rowids {
        let mut rows = text.query([rowid])?;
        // A row the index holds but the table does not would be a bug elsewhere; skip it.
        if let Some(row) = rows.next()? {
            let text = |i: usize| -> rusqlite::Result<&str> {
                row.get_ref(i)?.as_str().map_err(rusqlite::Error::from)
            };
            let mut counter = TermCounter::new(&terms, prefix);
            json_string_values(text(0)?, true, |s| counter.add(s));
            json_string_values(text(1)?, false, |s| counter.add(s));
            stats.push((rowid, counter.tf, counter.dl));
        }
    }
    let avgdl = stats.iter().map(|(_, _, dl)| *dl as f64).sum::<f64>() / stats.len() as f64;
    let idf = word_weights(conn, words, &mut count)?;
    let mut scored: Vec<(f64, i64)> = stats
        .iter()
        .map(|(rowid, tf, dl)| {
            let norm = BM25_K1 * (1.0 - BM25_B + BM25_B * *dl as f64 / avgdl.max(1.0));
            let score = tf
                .iter()
                .zip(&idf)
                .map(|(&tf, idf)| {
                    // FTS5 matched every word, so each occurs at least once even where
                    // folding here differs from the tokenizer's.
                    let tf = f64::from(tf.max(1));
                    idf * tf * (BM25_K1 + 1.0) / (tf + norm)
                })
                .sum::<f64>();
            (score, *rowid)
        })
        .collect();
    // Stable: equal scores keep the candidates' newest-first order.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut by_rowid = conn.prepare_cached(&format!("{SELECT} WHERE rowid = ?1"))?;
    scored
        .into_iter()
        .take(limit)
        .map(|(_, rowid)| Ok(by_rowid.query_row([rowid], from_row)?))
        .collect()
}

/// Calls `f` with the text of every string value in `json` as serde_json wrote it: the
/// values of a flat object of strings (`object`, keys skipped) or the elements of an
/// array of strings. An escaped character splits a value in pieces; escapes stand only
/// for quotes, backslashes and control characters, which separate words anyway.
fn json_string_values<'a>(json: &'a str, object: bool, mut f: impl FnMut(&'a str)) {
    let b = json.as_bytes();
    let (mut i, mut nth) = (0usize, 0usize);
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let value = !object || nth % 2 == 1;
        nth += 1;
        i += 1;
        let mut start = i;
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' {
                if value {
                    f(&json[start..i]);
                }
                i = (i + if b.get(i + 1) == Some(&b'u') { 6 } else { 2 }).min(b.len());
                start = i;
            } else {
                i += 1;
            }
        }
        if value {
            f(&json[start..i]);
        }
        i += 1;
    }
}

/// Counts, in the text it is given, each query term (the last one as a prefix if
/// `prefix`) and all words.
struct TermCounter<'t> {
    terms: &'t [String],
    prefix: bool,
    tf: Vec<u32>,
    dl: usize,
    folded: String,
}

impl<'t> TermCounter<'t> {
    fn new(terms: &'t [String], prefix: bool) -> Self {
        TermCounter {
            terms,
            prefix,
            tf: vec![0; terms.len()],
            dl: 0,
            folded: String::new(),
        }
    }

    fn add(&mut self, text: &str) {
        let last = self.terms.len() - 1;
        for token in text.split(|c: char| !c.is_alphanumeric()) {
            if token.is_empty() {
                continue;
            }
            self.dl += 1;
            let token = if token.is_ascii() {
                token
            } else {
                self.folded.clear();
                fold_into(token, &mut self.folded);
                self.folded.as_str()
            };
            for (i, t) in self.terms.iter().enumerate() {
                let hit = if self.prefix && i == last {
                    token.len() >= t.len()
                        && token.as_bytes()[..t.len()].eq_ignore_ascii_case(t.as_bytes())
                } else {
                    token.eq_ignore_ascii_case(t)
                };
                if hit {
                    self.tf[i] += 1;
                }
            }
        }
    }
}

/// How many records hold each word, counted up to a cap, as BM25 weights
/// `ln(1 + (N - n + 0.5) / (n + 0.5))`. A single word needs no weight.
fn word_weights(
    conn: &rusqlite::Connection,
    words: &[String],
    count: &mut rusqlite::CachedStatement<'_>,
) -> Result<Vec<f64>> {
    if words.len() == 1 {
        return Ok(vec![1.0]);
    }
    const COUNT_CAP: i64 = 10_000;
    let total: i64 = conn.query_row("SELECT coalesce(max(rowid), 0) FROM records", [], |r| {
        r.get(0)
    })?;
    let total = total.max(1) as f64;
    words
        .iter()
        .map(|w| {
            let n = count.query_row(
                params![fts_match(std::slice::from_ref(w), false), COUNT_CAP],
                |r| r.get::<_, i64>(0),
            )? as f64;
            Ok((1.0 + (total - n + 0.5).max(0.0) / (n + 0.5)).ln())
        })
        .collect()
}

/// Lower case without the common Latin diacritics, close to what the index's tokenizer
/// (`unicode61 remove_diacritics 2`) does with a word.
fn fold_word(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    fold_into(w, &mut out);
    out
}

/// [`fold_word`] into `out`.
fn fold_into(w: &str, out: &mut String) {
    out.extend(w.chars().flat_map(char::to_lowercase).map(|c| match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' => 'i',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => 's',
        'ţ' | 'ť' | 'ț' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        c => c,
    }));
}

/// Reads one record inside any transaction or connection.
pub fn get_record(conn: &rusqlite::Connection, id: &str) -> Result<Option<Record>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

impl Vault {
    /// Validates and stores a new record; returns it with its id and times.
    pub fn add(&self, new: NewRecord) -> Result<Record> {
        let r = prepare_new(new, &crate::now_rfc3339())?;
        self.write(|tx| insert_record(tx, &r))?;
        Ok(r)
    }

    /// The batch path: validates every record first, then stores all of them in one
    /// transaction (all or nothing). Returns the stored records' ids in order.
    pub fn add_batch(&self, news: impl IntoIterator<Item = NewRecord>) -> Result<Vec<String>> {
        add_batch_on(self.conn(), news)
    }

    /// One record by id.
    pub fn get(&self, id: &str) -> Result<Record> {
        get_record(self.conn(), id)?.ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// Records matching `filter`, newest first.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<Record>> {
        if let Some(t) = &filter.record_type {
            record_type(t)?;
        }
        let limit = filter.limit.map(|l| l as i64).unwrap_or(-1);
        // The page cursor: the rowid of the last record of the page before (newest first).
        let before = match &filter.after {
            Some(id) => self
                .conn()
                .prepare_cached("SELECT rowid FROM records WHERE id = ?1")?
                .query_row([id], |r| r.get::<_, i64>(0))
                .optional()?
                .ok_or_else(|| Error::NotFound(id.clone()))?,
            None => i64::MAX,
        };
        let sql = match &filter.tag {
            Some(_) => format!(
                "{SELECT} WHERE (?1 IS NULL OR type = ?1) AND rowid IN (SELECT rec FROM record_tags WHERE tag = ?2) AND rowid < ?4 ORDER BY rowid DESC LIMIT ?3"
            ),
            None => format!("{SELECT} WHERE (?1 IS NULL OR type = ?1) AND ?2 IS NULL AND rowid < ?4 ORDER BY rowid DESC LIMIT ?3"),
        };
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![filter.record_type, filter.tag, limit, before],
            from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Ranked full-text search over every field value and tag, best match first.
    /// Words are matched whole; the last word also as a prefix (search as you type).
    /// Ranking is BM25; a query matching more than [`SEARCH_CANDIDATES`] records is
    /// ranked among its newest that many matches, and a word already that common is not
    /// also matched as a prefix (see `search_on`).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Record>> {
        search_on(self.conn(), query, limit)
    }

    /// Applies `changes` to the record `id`; the result is validated like a new record.
    pub fn edit(&self, id: &str, changes: &RecordChanges) -> Result<Record> {
        self.write(|tx| {
            let mut r = get_record(tx, id)?.ok_or_else(|| Error::NotFound(id.to_string()))?;
            let ty = record_type(&r.record_type)?;
            let mut fields = r.fields.clone();
            for (k, v) in &changes.set {
                ty.field(k)?;
                if v.is_empty() {
                    fields.remove(k);
                } else {
                    fields.insert(k.clone(), v.clone());
                }
            }
            r.fields = ty.validate(&fields)?;
            let mut tags = r.tags.clone();
            tags.extend(changes.add_tags.iter().cloned());
            tags.retain(|t| !changes.remove_tags.contains(t));
            r.tags = clean_tags(&tags)?;
            r.updated_at = crate::now_rfc3339();
            replace_record(tx, &r, &DerivedColumns::of(&r))?;
            Ok(r)
        })
    }

    /// The number of records of each type that has any.
    pub fn count_by_type(&self) -> Result<BTreeMap<String, u64>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT type, count(*) FROM records GROUP BY type")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The number of records.
    pub fn count_records(&self) -> Result<u64> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))?
            as u64)
    }
}

/// The words of what a person typed: runs of letters and digits.
fn query_words(input: &str) -> Vec<String> {
    input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_string())
        .collect()
}

/// A safe FTS5 query: every word quoted (so FTS syntax in the input is just text), all
/// words required, the last one also as a prefix if `prefix`.
fn fts_match(words: &[String], prefix: bool) -> String {
    let mut q: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    if prefix {
        if let Some(last) = q.last_mut() {
            last.push('*');
        }
    }
    q.join(" ")
}

/// What a person typed as an FTS5 query with the last word also as a prefix.
#[cfg(test)]
fn fts_query(input: &str) -> Option<String> {
    let words = query_words(input);
    (!words.is_empty()).then(|| fts_match(&words, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::tests::new_vault;

    fn rec(ty: &str, pairs: &[(&str, &str)]) -> NewRecord {
        NewRecord::new(
            ty,
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn inserting_an_existing_id_is_refused_and_changes_nothing() {
        let (_d, v) = new_vault();
        let first = v
            .add(rec("contact", &[("email", "ana@example.org")]))
            .unwrap();
        let mut again = first.clone();
        again
            .fields
            .insert("email".into(), "someone@else.example".into());
        let e = v.write(|tx| insert_record(tx, &again)).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(v.get(&first.id).unwrap(), first);
        assert_eq!(
            v.search("someone", 10).unwrap().len(),
            0,
            "not indexed either"
        );
    }

    #[test]
    fn add_get_edit_remove() {
        let (_d, v) = new_vault();
        let mut n = rec(
            "contact",
            &[("email", "ana@example.org"), ("label", "work")],
        );
        n.tags = vec!["work".into(), "work".into()];
        let r = v.add(n).unwrap();
        assert_eq!(r.tags, ["work"], "duplicate tags collapse");
        assert_eq!(v.get(&r.id).unwrap(), r);
        let changes = RecordChanges {
            set: [
                ("phone".to_string(), "+49 30 1234567".to_string()),
                ("label".to_string(), String::new()),
            ]
            .into(),
            add_tags: vec!["family".into()],
            remove_tags: vec!["work".into()],
        };
        let e = v.edit(&r.id, &changes).unwrap();
        assert_eq!(e.fields.get("label"), None, "empty value unsets");
        assert_eq!(e.fields["phone"], "+49 30 1234567");
        assert_eq!(e.tags, ["family"]);
        assert!(e.updated_at >= r.updated_at && e.created_at == r.created_at);
        assert_eq!(
            v.list(&ListFilter {
                tag: Some("family".into()),
                ..Default::default()
            })
            .unwrap()
            .len(),
            1
        );
        assert_eq!(
            v.list(&ListFilter {
                tag: Some("work".into()),
                ..Default::default()
            })
            .unwrap()
            .len(),
            0
        );
        v.remove(&r.id).unwrap();
        assert!(matches!(v.get(&r.id), Err(Error::NotFound(_))));
        assert!(matches!(v.remove(&r.id), Err(Error::NotFound(_))));
        assert!(
            v.search("example", 10).unwrap().is_empty(),
            "removed record left the index"
        );
    }

    /// The record list pages with a cursor: each page starts after the last record of the
    /// one before, so pages never overlap or skip a record, even when records are added
    /// between pages (they are newer, so they do not shift the older pages).
    #[test]
    fn list_pages_with_a_cursor_newest_first() {
        let (_d, v) = new_vault();
        let ids: Vec<String> = (0..7)
            .map(|i| {
                let ty = if i % 2 == 0 { "note" } else { "contact" };
                let pair = if ty == "note" {
                    ("title", "n")
                } else {
                    ("email", "a@example.org")
                };
                v.add(rec(ty, &[pair])).unwrap().id
            })
            .collect();
        let page = |after: Option<&String>, ty: Option<&str>| {
            v.list(&ListFilter {
                record_type: ty.map(str::to_string),
                limit: Some(3),
                after: after.cloned(),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
        };
        let first = page(None, None);
        assert_eq!(first, [&ids[6][..], &ids[5], &ids[4]]);
        v.add(rec("note", &[("title", "newer")])).unwrap();
        let second = page(first.last(), None);
        assert_eq!(
            second,
            [&ids[3][..], &ids[2], &ids[1]],
            "a newer record does not shift the next page"
        );
        assert_eq!(page(second.last(), None), [&ids[0][..]]);
        assert_eq!(page(Some(&ids[0]), None), Vec::<String>::new());
        let notes = page(None, Some("note"));
        assert_eq!(
            page(notes.last(), Some("note")).len(),
            2,
            "the cursor keeps the type filter: 5 notes, 3 + 2"
        );
        v.remove(&ids[4]).unwrap();
        assert!(
            matches!(
                v.list(&ListFilter {
                    after: Some(ids[4].clone()),
                    ..Default::default()
                }),
                Err(Error::NotFound(_))
            ),
            "a cursor on a deleted record is an error, not an empty page"
        );
    }

    #[test]
    fn invalid_edit_changes_nothing() {
        let (_d, v) = new_vault();
        let r = v
            .add(rec("contact", &[("email", "ana@example.org")]))
            .unwrap();
        let bad = RecordChanges {
            set: [("email".to_string(), "nope".to_string())].into(),
            ..Default::default()
        };
        assert!(matches!(
            v.edit(&r.id, &bad),
            Err(Error::InvalidField { .. })
        ));
        assert_eq!(v.get(&r.id).unwrap(), r);
    }

    #[test]
    fn batch_is_all_or_nothing() {
        let (_d, v) = new_vault();
        let good = rec("note", &[("title", "a")]);
        let bad = rec("note", &[("colour", "red")]);
        assert!(v.add_batch(vec![good.clone(), bad]).is_err());
        assert_eq!(v.count_records().unwrap(), 0);
        assert_eq!(v.add_batch(vec![good.clone(), good]).unwrap().len(), 2);
        assert_eq!(v.count_by_type().unwrap()["note"], 2);
    }

    #[test]
    fn search_ranks_and_covers_every_field() {
        let (_d, v) = new_vault();
        let weak = v
            .add(rec(
                "note",
                &[
                    ("title", "groceries"),
                    (
                        "body",
                        "buy oat milk and bread and more things for the weekend trip",
                    ),
                ],
            ))
            .unwrap();
        let strong = v
            .add(rec(
                "note",
                &[("title", "oat milk"), ("body", "oat milk oat milk")],
            ))
            .unwrap();
        let addr = v
            .add(rec(
                "address",
                &[
                    ("street", "Rue de Rivoli 12"),
                    ("city", "Paris"),
                    ("country", "fr"),
                ],
            ))
            .unwrap();
        let hits: Vec<_> = v
            .search("oat milk", 10)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(
            hits,
            [strong.id.clone(), weak.id.clone()],
            "best match first"
        );
        assert_eq!(v.search("rivoli", 10).unwrap()[0].id, addr.id);
        assert_eq!(
            v.search("FR", 10).unwrap()[0].id,
            addr.id,
            "normalized country is indexed"
        );
        assert_eq!(
            v.search("pari", 10).unwrap()[0].id,
            addr.id,
            "last word matches as prefix"
        );
        assert!(
            v.search("\"unbalanced AND OR (", 10).is_ok(),
            "FTS syntax in input is text"
        );
        assert!(v.search("   ", 10).unwrap().is_empty());
    }

    #[test]
    fn fts_query_quotes_every_word() {
        assert_eq!(fts_query("oat milk").unwrap(), "\"oat\" \"milk\"*");
        assert_eq!(
            fts_query("a\"b OR c*").unwrap(),
            "\"a\" \"b\" \"OR\" \"c\"*"
        );
        assert_eq!(fts_query("--"), None);
    }

    #[test]
    fn very_common_word_ranks_among_its_newest_matches_and_skips_prefixes() {
        let (_d, v) = new_vault();
        let note = |title: &str, body: &str| rec("note", &[("title", title), ("body", body)]);
        let old_best = v.add(note("common", "common common")).unwrap();
        v.add(note("commonplace book", "a prefix-only match"))
            .unwrap();
        let filler = (0..SEARCH_CANDIDATES).map(|i| {
            note(
                &format!("entry {i}"),
                "a common word in a longer note body text",
            )
        });
        v.add_batch(filler).unwrap();
        let best_new = v.add(note("common", "common again")).unwrap();
        let hits = v.search("common", 10).unwrap();
        assert_eq!(hits.len(), 10);
        assert_eq!(hits[0].id, best_new.id, "short, repeated match ranks first");
        assert!(
            hits.iter().all(|h| h.id != old_best.id),
            "only the newest SEARCH_CANDIDATES matches are ranked"
        );
        assert!(
            hits.iter()
                .all(|h| !h.fields["title"].starts_with("commonplace")),
            "a word this common is not also matched as a prefix"
        );
        assert_eq!(
            v.search("commonp", 10).unwrap()[0].fields["title"],
            "commonplace book",
            "a rarer prefix still completes"
        );
    }

    #[test]
    fn ranking_weighs_rare_words_above_common_ones_and_folds_diacritics() {
        let (_d, v) = new_vault();
        let note = |title: &str, body: &str| rec("note", &[("title", title), ("body", body)]);
        v.add_batch((0..50).map(|i| note(&format!("tax {i}"), "tax tax paperwork")))
            .unwrap();
        let rare_twice = v.add(note("zürich tax", "zürich zürich move")).unwrap();
        let tax_heavy = v.add(note("tax tax tax", "tax tax zürich")).unwrap();
        let hits: Vec<_> = v
            .search("tax zurich", 10)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(
            hits,
            [rare_twice.id, tax_heavy.id],
            "the rarer word counts more; ü matches u"
        );
        assert_eq!(fold_word("ChloÉ-Ñandú"), "chloe-nandu");
    }

    #[test]
    fn json_string_values_reads_what_serde_json_writes() {
        let fields: BTreeMap<String, String> = [
            (
                "body".to_string(),
                "line one\nsays \"hi\" \\ ünï\u{1}x".to_string(),
            ),
            ("title".to_string(), "Title".to_string()),
        ]
        .into();
        let json = serde_json::to_string(&fields).unwrap();
        let mut words = Vec::new();
        json_string_values(&json, true, |s| {
            words.extend(
                s.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty()),
            )
        });
        assert_eq!(words, ["line", "one", "says", "hi", "ünï", "x", "Title"]);
        let tags = serde_json::to_string(&["a", "b-c"]).unwrap();
        let mut seen = Vec::new();
        json_string_values(&tags, false, |s| seen.push(s));
        assert_eq!(seen, ["a", "b-c"]);
    }
}
