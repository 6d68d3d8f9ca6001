//! Ranked full-text search over every field value and tag: FTS5 finds the matches, BM25
//! over at most [`SEARCH_CANDIDATES`] of them ranks them (see [`search_on`]).

use rusqlite::params;

use crate::error::Result;
use crate::record::{from_row, Record, SELECT};
use crate::vault::Vault;

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

impl Vault {
    /// Ranked full-text search over every field value and tag, best match first.
    /// Words are matched whole; the last word also as a prefix (search as you type).
    /// Ranking is BM25; a query matching more than [`SEARCH_CANDIDATES`] records is
    /// ranked among its newest that many matches, and a word already that common is not
    /// also matched as a prefix (see `search_on`).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Record>> {
        search_on(self.conn(), query, limit)
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::record::tests::rec;
    use crate::vault::tests::new_vault;

    /// The ids `query` finds, best first.
    fn hit_ids(v: &Vault, query: &str) -> Vec<String> {
        v.search(query, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
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
        let hits = hit_ids(&v, "oat milk");
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
        let hits = hit_ids(&v, "tax zurich");
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
