use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let conn = rusqlite::Connection::open(&args[1]).unwrap();
    conn.execute_batch("PRAGMA cache_size=-65536;").unwrap();
    let sqls: Vec<String> = std::fs::read_to_string(&args[2])
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    let queries: Vec<String> = args[3..].to_vec();
    for sql in &sqls {
        println!("== {sql}");
        for q in &queries {
            let mut times = vec![];
            let mut n = 0;
            for _ in 0..7 {
                let t = Instant::now();
                let mut st = conn.prepare_cached(sql).unwrap();
                let rows: Vec<i64> = st
                    .query_map([q], |r| r.get(0))
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                n = rows.len();
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "  {q:24} n={n:6} min={:.2}ms med={:.2}ms",
                times[0], times[3]
            );
        }
    }
}
