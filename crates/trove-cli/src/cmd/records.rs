//! Record commands: add, get, list, search, edit, rm, types.

use clap::Args;
use serde_json::json;
use trove_core::{record_types, Error, ListFilter, NewRecord, RecordChanges, Result};

use crate::ctx::Ctx;
use crate::{outln, output};

/// `FIELD=VALUE`, split at the first `=`.
fn field_value(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected FIELD=VALUE, got {s:?}")),
    }
}

#[derive(Args)]
pub struct AddArgs {
    /// The record type (see `trove types`)
    #[arg(value_name = "TYPE")]
    record_type: String,
    /// Field values, e.g. email=ana@example.org
    #[arg(value_name = "FIELD=VALUE", value_parser = field_value, required = true)]
    fields: Vec<(String, String)>,
    /// A tag (repeatable)
    #[arg(long = "tag", value_name = "T")]
    tags: Vec<String>,
}

#[derive(Args)]
pub struct IdArg {
    /// The record id
    id: String,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only records of this type
    #[arg(long = "type", value_name = "T")]
    record_type: Option<String>,
    /// Only records with this tag
    #[arg(long, value_name = "T")]
    tag: Option<String>,
    /// At most N records
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

#[derive(Args)]
pub struct SearchArgs {
    /// Words to find (all must match; the last also as a prefix)
    #[arg(required = true)]
    query: Vec<String>,
    /// At most N results
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
}

#[derive(Args)]
pub struct EditArgs {
    /// The record id
    id: String,
    /// New field values; FIELD= removes the field
    #[arg(value_name = "FIELD=VALUE", value_parser = field_value)]
    fields: Vec<(String, String)>,
    /// Add a tag (repeatable)
    #[arg(long = "tag", value_name = "T")]
    tags: Vec<String>,
    /// Remove a tag (repeatable)
    #[arg(long = "untag", value_name = "T")]
    untags: Vec<String>,
}

fn show_record(ctx: &Ctx, r: &trove_core::Record) {
    if ctx.json {
        output::json(r);
    } else {
        output::record(r);
    }
}

fn show_records(ctx: &Ctx, records: &[trove_core::Record]) {
    if ctx.json {
        output::json(&json!({ "records": records }));
    } else {
        output::record_lines(records);
    }
}

pub fn add(ctx: &Ctx, a: AddArgs) -> Result<()> {
    let mut fields = std::collections::BTreeMap::new();
    for (k, v) in a.fields {
        if fields.insert(k.clone(), v).is_some() {
            return Err(Error::InvalidInput(format!("field `{k}` is given twice")));
        }
    }
    let vault = ctx.unlock()?;
    let r = vault.add(NewRecord {
        record_type: a.record_type,
        fields,
        tags: a.tags,
        source: "manual".into(),
    })?;
    crate::ctx::sync_staging(&vault);
    if ctx.json {
        output::json(&r);
    } else {
        outln!("{}", r.id);
    }
    Ok(())
}

pub fn get(ctx: &Ctx, a: IdArg) -> Result<()> {
    let r = ctx.unlock()?.get(&a.id)?;
    show_record(ctx, &r);
    Ok(())
}

pub fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let records = ctx.unlock()?.list(&ListFilter {
        record_type: a.record_type,
        tag: a.tag,
        limit: a.limit,
        after: None,
    })?;
    show_records(ctx, &records);
    Ok(())
}

pub fn search(ctx: &Ctx, a: SearchArgs) -> Result<()> {
    let records = ctx.unlock()?.search(&a.query.join(" "), a.limit)?;
    show_records(ctx, &records);
    Ok(())
}

pub fn edit(ctx: &Ctx, a: EditArgs) -> Result<()> {
    if a.fields.is_empty() && a.tags.is_empty() && a.untags.is_empty() {
        return Err(Error::InvalidInput(
            "nothing to change: give FIELD=VALUE, --tag or --untag".into(),
        ));
    }
    let changes = RecordChanges {
        set: a.fields.into_iter().collect(),
        add_tags: a.tags,
        remove_tags: a.untags,
    };
    let vault = ctx.unlock()?;
    let r = vault.edit(&a.id, &changes)?;
    crate::ctx::sync_staging(&vault);
    show_record(ctx, &r);
    Ok(())
}

pub fn rm(ctx: &Ctx, a: IdArg) -> Result<()> {
    let vault = ctx.unlock()?;
    vault.remove(&a.id)?;
    crate::ctx::sync_staging(&vault);
    if ctx.json {
        output::json(&json!({ "removed": a.id, "in_trash": true }));
    } else {
        outln!("moved {} to the trash", output::safe(&a.id));
        eprintln!(
            "`trove trash restore {}` brings it back within {} days; `trove trash empty` erases it now.",
            output::safe(&a.id),
            trove_core::TRASH_DAYS
        );
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum TrashCmd {
    /// Records removed in the last 30 days, most recent first
    List,
    /// Put a removed record back
    Restore(IdArg),
    /// Erase every record in the trash for good, and the earlier versions kept to undo
    /// imports
    Empty,
}

pub fn trash(ctx: &Ctx, cmd: TrashCmd) -> Result<()> {
    let vault = ctx.unlock()?;
    match cmd {
        TrashCmd::List => {
            let t = vault.list_trash()?;
            if ctx.json {
                output::json(&json!({ "trash": t }));
            } else if t.is_empty() {
                eprintln!("the trash is empty");
            } else {
                for e in &t {
                    outln!(
                        "{}  erased after {}  {}",
                        output::safe(&e.record.id),
                        e.erase_after,
                        output::safe(&e.record.record_type)
                    );
                }
            }
        }
        TrashCmd::Restore(a) => {
            let r = vault.restore(&a.id)?;
            crate::ctx::sync_staging(&vault);
            if ctx.json {
                output::json(&r);
            } else {
                outln!("restored {}", output::safe(&r.id));
            }
        }
        TrashCmd::Empty => {
            let n = vault.empty_trash()?;
            if ctx.json {
                output::json(&json!({ "erased": n }));
            } else {
                outln!("erased {n} records for good");
            }
        }
    }
    Ok(())
}

pub fn types(ctx: &Ctx) -> Result<()> {
    if ctx.json {
        output::json(&json!({ "types": record_types() }));
        return Ok(());
    }
    for t in record_types() {
        let fields: Vec<String> = t
            .fields
            .iter()
            .map(|f| {
                let mut s = f.name.clone();
                if f.required {
                    s.push('*');
                }
                if let Some(fmt) = &f.format {
                    s.push_str(&format!(" ({fmt})"));
                }
                s
            })
            .collect();
        outln!("{:<13} {}", t.name, fields.join(", "));
    }
    outln!("");
    outln!("* required");
    Ok(())
}
