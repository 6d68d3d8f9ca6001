#!/usr/bin/env bash
# Measures import on a folder of real contact files (vcard/, csv/, json/ under DIR):
# every file through the real `trove import` into a fresh vault, then a table per format
# (fully imported, imported with reported values, refused, crashed, properties with no
# field) and a check that no address-book file left a record in an owner type. Then the
# speed and peak RSS of importing a generated 100k-card vCard file.
#
#   scripts/interop-measure.sh DIR [TROVE_BINARY]
#
# Not part of `make test` (it needs a corpus and a release build):
#   cargo build --release -p trove-cli && scripts/interop-measure.sh ~/interop
set -euo pipefail

dir=${1:?usage: scripts/interop-measure.sh DIR [TROVE_BINARY]}
trove=${2:-${CARGO_TARGET_DIR:-target}/release/trove}
[ -x "$trove" ] || { echo "no trove binary at $trove (cargo build --release -p trove-cli)" >&2; exit 2; }
cards=${CARDS:-100000}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TROVE_PASSPHRASE=interop-measure
# Every vault here is a copy of one template (same vault id): the rollback anchors this
# computer keeps would take each copy for an older one. Keep them
# in the work dir, cleared before each import, away from the real ones.
export XDG_CONFIG_HOME="$work/config"
"$trove" --vault "$work/template" init >/dev/null 2>&1

python3 - "$dir" "$trove" "$work" "$cards" <<'PY'
import json, os, re, shutil, subprocess, sys, time

corpus, trove, work, cards = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
OWNER = {"identity", "contact", "address", "employment", "note", "document", "health",
         "bank_account", "membership", "preference"}

def error_message(p, with_hint=False):
    """The message (and hint) of the JSON error `trove --json` prints on stderr, or ""."""
    for line in p.stderr.splitlines():
        if line.startswith("{"):
            try:
                e = json.loads(line)["error"]
                return e["message"] + ("; " + e["hint"] if with_hint and e.get("hint") else "")
            except (ValueError, KeyError, TypeError):
                pass
    return ""

def fresh_vault():
    """A new vault (a copy of the template) and no anchors remembered."""
    vault = os.path.join(work, "v")
    shutil.rmtree(vault, ignore_errors=True)
    shutil.rmtree(os.environ["XDG_CONFIG_HOME"], ignore_errors=True)
    shutil.copytree(os.path.join(work, "template"), vault)
    return vault

def run(vault, *args):
    return subprocess.run([trove, "--vault", vault, "--json", *args],
                          capture_output=True, text=True)

# Files under csv/ that a contacts library keeps as test input but that hold no contacts,
# with the reason they are counted as "not contacts" rather than as contacts exports.
NOT_CONTACTS = {
    "fkcontactsio__TestFiles__NoHeader.csv": "two rows of numbers and no header",
}

rows = {}
leaks = []
details = []
for sub in ("vcard", "csv", "json"):
    d = os.path.join(corpus, sub)
    if not os.path.isdir(d):
        continue
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        vault = fresh_vault()
        args = ["import", path]
        m = re.match(r"derived__([a-z_]+)__", name)
        typed = m is not None
        if typed:
            args += ["--type", m.group(1)]
        p = run(vault, *args)
        kind = sub if not typed else "csv --type"
        if sub == "json" and "jcard" not in name.lower():
            kind = "json (not Trove records)"
        if sub == "csv" and not typed and (not name.startswith("fkcontactsio") or name in NOT_CONTACTS):
            kind = "csv (not contacts)"
        r = rows.setdefault(kind, {"files": 0, "full": 0, "reported": 0, "refused": 0,
                                   "crashed": 0, "records": 0, "dropped": 0, "not_kept": 0,
                                   "mapped": 0})
        r["files"] += 1
        outcome = ""
        suggested = []
        if 0 < p.returncode < 101 and sub == "csv" and not typed:
            # A header Trove does not know: the refusal's hint may name the --map for columns
            # that look like known ones. Import again with exactly those, as a person would.
            suggested = re.findall(r'--map "([^"]+)"', error_message(p, with_hint=True))
            if suggested:
                p = run(vault, *args, *sum((["--map", m] for m in suggested), []))
                r["mapped"] += 1 if p.returncode == 0 else 0
        if p.returncode >= 101 or p.returncode < 0 or "panicked" in p.stderr:
            r["crashed"] += 1
            outcome = "crashed"
        elif p.returncode != 0:
            r["refused"] += 1
            first = (p.stderr.strip().splitlines() or [""])[0]
            outcome = "refused: " + (error_message(p) or first)[:160]
        else:
            rep = json.loads(p.stdout)
            r["records"] += rep.get("records", 0)
            dropped = sum(u["count"] for u in rep.get("unmapped", []))
            r["dropped"] += dropped
            r["not_kept"] += rep.get("values_not_kept", 0)
            clean = rep.get("skipped", 0) == 0 and rep.get("values_not_kept", 0) == 0 and not rep.get("unmapped")
            r["full" if clean else "reported"] += 1
            outcome = ("with the %d suggested --map, " % len(suggested) if suggested else "") + \
                ("full" if clean else "reported: %d skipped, %d values, %d unmapped (%s)" % (
                rep.get("skipped", 0), rep.get("values_not_kept", 0), len(rep.get("unmapped", [])),
                ", ".join(u["property"] for u in rep.get("unmapped", [])[:6])))
            address_book = sub == "vcard" or (sub == "csv" and name.startswith("fkcontactsio")) \
                or (sub == "json" and "jcard" in name.lower())
            if address_book:
                listed = json.loads(run(vault, "list").stdout)
                bad = [x for x in listed["records"] if x["type"] in OWNER]
                if bad:
                    leaks.append((name, len(bad)))
        details.append((kind, name, outcome))

print("| format | files | fully imported | imported, with reported values | of those, after the --map the refusal suggested | imported | refused | crashed | records | values not kept | properties with no field (occurrences) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for k, r in rows.items():
    ok = r['full'] + r['reported']
    print(f"| {k} | {r['files']} | {r['full']} | {r['reported']} | {r['mapped']} | {100 * ok / r['files']:.0f}% | {r['refused']} | {r['crashed']} | {r['records']} | {r['not_kept']} | {r['dropped']} |")
for name, why in NOT_CONTACTS.items():
    print(f"counted as csv (not contacts): {name}: {why}")
print()
print("records of other people in owner types:", sum(n for _, n in leaks), leaks if leaks else "")
print()
for kind, name, outcome in details:
    print(f"  {kind:18} {name:70} {outcome}")

# Speed: a generated vCard file of `cards` cards.
big = os.path.join(work, "big.vcf")
with open(big, "w") as f:
    for i in range(cards):
        f.write("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:gen-%d\r\nFN:Person %d Example\r\nN:Example;Person %d;;;\r\n"
                "EMAIL;TYPE=work:person%d@example.org\r\nTEL;TYPE=cell:+49 170 %07d\r\n"
                "ADR;TYPE=home:;;Street %d;Berlin;;10435;Germany\r\nORG:Company %d\r\nNOTE:generated card %d\r\nEND:VCARD\r\n"
                % (i, i, i, i, i, i, i % 997, i))
vault = fresh_vault()
t0 = time.time()
p = subprocess.run(["/usr/bin/time", "-v", trove, "--vault", vault, "--json", "import", big],
                   capture_output=True, text=True)
dt = time.time() - t0
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
rep = json.loads(p.stdout) if p.returncode == 0 else {}
size = os.path.getsize(big)
print()
print(f"generated vCard: {cards} cards, {size/1e6:.1f} MB: exit {p.returncode}, {rep.get('new')} new, "
      f"{dt:.2f} s wall (unlock included), {cards/dt:,.0f} cards/s, peak RSS {int(rss.group(1))/1024 if rss else -1:.0f} MiB")

# Baseline in the same run: the records that import made, as Trove's own JSON, through
# the same binary's JSON import into a fresh vault. And the unlock alone (Argon2), which
# both wall times include.
listed = json.loads(run(vault, "list").stdout)["records"]
base = os.path.join(work, "records.json")
with open(base, "w") as f:
    json.dump([{"type": r["type"], "fields": r["fields"], "tags": r.get("tags", [])} for r in listed], f)
vault = fresh_vault()
t0 = time.time()
p = subprocess.run(["/usr/bin/time", "-v", trove, "--vault", vault, "--json", "import", base],
                   capture_output=True, text=True)
dt_json = time.time() - t0
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
rep = json.loads(p.stdout) if p.returncode == 0 else {}
print(f"baseline, the same records as Trove JSON: {os.path.getsize(base)/1e6:.1f} MB: exit {p.returncode}, "
      f"{rep.get('new')} new, {dt_json:.2f} s wall (unlock included), {len(listed)/dt_json:,.0f} records/s, "
      f"peak RSS {int(rss.group(1))/1024 if rss else -1:.0f} MiB")
t0 = time.time()
run(vault, "status")
dt_unlock = time.time() - t0
print(f"unlock alone (trove status): {dt_unlock:.2f} s; without it: vCard {cards/max(dt-dt_unlock, 1e-9):,.0f} cards/s, "
      f"JSON {len(listed)/max(dt_json-dt_unlock, 1e-9):,.0f} records/s")
print("load average:", open("/proc/loadavg").read().split()[:3])
PY
