//! What the cluster shows: the pods, the Events, and notes (a pod answering
//! on its address, the demo's steps).
//!
//! * On a terminal the pod table is redrawn in place with the last
//!   [`RECENT_EVENTS`] Events below it (crossterm); notes scroll above it,
//!   so they stay readable in the terminal's history.
//! * Off a terminal (a pipe, a log file, the tests), as `kubectl get -w`
//!   does: a pod's row is printed when it changes — a new age alone is not
//!   a change — and each Event and note is one line.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::cursor::MoveToPreviousLine;
use crossterm::terminal::{Clear, ClearType};
use futures::StreamExt;
use orch_core::api::{WatchEvent, WatchParams};
use orch_core::store::Store;
use orch_core::{Api, Event, Pod};
use tokio_util::sync::CancellationToken;

/// Events kept below the table on a terminal.
pub const RECENT_EVENTS: usize = 8;

const HEADER: [&str; 7] = ["POD", "NODE", "PHASE", "READY", "RESTARTS", "AGE", "ADDRESS"];

/// Whether the Pod's `Ready` condition is `True`.
pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The Pod's HTTP address, `ip:port` of its first container port.
pub fn address(p: &Pod) -> Option<String> {
    let ip = p.status.as_ref()?.pod_ip.clone()?;
    let port = p.spec.containers.iter().flat_map(|c| c.ports.iter()).next()?.container_port;
    Some(format!("{ip}:{port}"))
}

/// `GET /` on `addr` (1 s to connect, 2 s to answer): the body, trimmed.
pub fn http_get(addr: &str) -> Option<String> {
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out.split("\r\n\r\n").nth(1)?.trim().to_owned())
}

/// One pod's row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub node: String,
    pub phase: String,
    pub ready: bool,
    pub restarts: i32,
    /// `42s`, `3m`: changes every second, so not part of [`Row::same_state`].
    pub age: String,
    pub address: String,
}

impl Row {
    /// The row of `p` at `now`.
    pub fn of(p: &Pod, now: DateTime<Utc>) -> Row {
        let s = p.status.clone().unwrap_or_default();
        let phase = if p.metadata.is_deleting() {
            "Terminating".to_owned()
        } else {
            s.phase.map_or("Pending", |ph| ph.as_str()).to_owned()
        };
        let age = match p.metadata.creation_timestamp {
            None => "-".to_owned(),
            Some(t) => match (now - t.0).num_seconds().max(0) {
                secs @ 0..120 => format!("{secs}s"),
                secs => format!("{}m", secs / 60),
            },
        };
        Row {
            name: p.metadata.name.clone(),
            node: p.spec.node_name.clone().unwrap_or_else(|| "-".into()),
            phase,
            ready: is_ready(p),
            restarts: s.container_statuses.iter().map(|c| c.restart_count).sum(),
            age,
            address: address(p).unwrap_or_else(|| "-".into()),
        }
    }

    /// Equal in everything but the age.
    pub fn same_state(&self, other: &Row) -> bool {
        Row { age: String::new(), ..self.clone() } == Row { age: String::new(), ..other.clone() }
    }

    fn format(&self) -> String {
        let ready = if self.ready { "yes" } else { "no" };
        columns([&self.name, &self.node, &self.phase, ready, &self.restarts.to_string(), &self.age])
            + &self.address
    }
}

fn columns(cells: [&str; 6]) -> String {
    let [pod, node, phase, ready, restarts, age] = cells;
    format!("{pod:<28} {node:<8} {phase:<12} {ready:<6} {restarts:<9} {age:<5} ")
}

fn header() -> String {
    let [pod, node, phase, ready, restarts, age, address] = HEADER;
    columns([pod, node, phase, ready, restarts, age]) + address
}

/// What changed between two tables, as `kubectl get -w` prints it.
#[derive(Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// A pod not in the earlier table.
    Added(&'a Row),
    /// A pod whose row changed (age aside).
    Changed(&'a Row),
    /// A pod gone since the earlier table (its last row).
    Deleted(&'a Row),
}

/// The changes from `before` to `now`, tables by pod name: new and changed
/// rows in name order, then the deleted ones.
pub fn changes<'a>(
    before: &'a BTreeMap<String, Row>,
    now: &'a BTreeMap<String, Row>,
) -> Vec<Change<'a>> {
    let mut out: Vec<Change<'a>> = now
        .iter()
        .filter_map(|(name, row)| match before.get(name) {
            None => Some(Change::Added(row)),
            Some(old) if !old.same_state(row) => Some(Change::Changed(row)),
            Some(_) => None,
        })
        .collect();
    out.extend(
        before.iter().filter(|(n, _)| !now.contains_key(*n)).map(|(_, r)| Change::Deleted(r)),
    );
    out
}

/// The lines redrawn on a terminal of `width` × `height`: the table (cut to
/// the rows that fit, with how many more there are), then the recent
/// Events; every line cut to `width` characters.
pub fn screen(rows: &[&Row], events: &[String], width: usize, height: usize) -> Vec<String> {
    let mut lines = vec![header()];
    // One line is left for the cursor; the events take theirs and a title.
    let event_lines = if events.is_empty() { 0 } else { events.len() + 2 };
    let room = height.saturating_sub(2 + event_lines).max(1);
    if rows.len() <= room {
        lines.extend(rows.iter().map(|r| r.format()));
    } else {
        lines.extend(rows[..room - 1].iter().map(|r| r.format()));
        lines.push(format!("… {} more pods", rows.len() - (room - 1)));
    }
    if !events.is_empty() {
        lines.push(String::new());
        lines.push("LAST EVENTS".into());
        lines.extend(events.iter().cloned());
    }
    for l in &mut lines {
        if let Some((cut, _)) = l.char_indices().nth(width.max(1) - 1) {
            l.truncate(cut);
        }
    }
    lines
}

/// Where Events go: printed as they come off a terminal, or kept (the last
/// [`RECENT_EVENTS`]) for the redrawn screen on one.
#[derive(Clone)]
pub struct EventFeed {
    tty: bool,
    recent: Arc<Mutex<VecDeque<String>>>,
}

impl EventFeed {
    fn record(&self, line: String) {
        if !self.tty {
            println!("event {line}");
            return;
        }
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT_EVENTS {
            recent.pop_front();
        }
        recent.push_back(line);
    }

    fn recent(&self) -> Vec<String> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    /// Watches every namespace's Events into the feed until `stop`.
    pub async fn watch(self, store: Arc<dyn Store>, stop: CancellationToken) {
        let api: Api<Event> = Api::all(store);
        let Ok(mut events) = api.watch(&WatchParams::default(), "").await else { return };
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return,
                e = events.next() => e,
            };
            match next {
                Some(Ok(WatchEvent::Added(e) | WatchEvent::Modified(e))) => {
                    let o = &e.involved_object;
                    self.record(format!(
                        "{:<7} {:<20} {}/{}: {}",
                        e.type_.unwrap_or_default(),
                        e.reason.unwrap_or_default(),
                        o.kind.to_lowercase(),
                        o.name,
                        e.message.unwrap_or_default()
                    ));
                }
                Some(Ok(_)) => {}
                _ => return,
            }
        }
    }
}

/// Shows pods, Events and notes, and checks each Ready pod's address once.
pub struct Display {
    tty: bool,
    rows: BTreeMap<String, Row>,
    events: EventFeed,
    /// Lines of the redrawn screen now on the terminal (0: none).
    drawn: usize,
    /// Pods that answered on their address, with the body.
    pub answered: HashMap<String, String>,
    /// Pods that answered with something other than their name.
    pub failures: Vec<String>,
}

impl Display {
    /// A display on stdout, redrawn in place if stdout is a terminal.
    pub fn new(tty: bool) -> Display {
        Display {
            tty,
            rows: BTreeMap::new(),
            events: EventFeed { tty, recent: Arc::default() },
            drawn: 0,
            answered: HashMap::new(),
            failures: Vec::new(),
        }
    }

    /// The feed to watch Events into.
    pub fn events(&self) -> EventFeed {
        self.events.clone()
    }

    /// Shows the pods, probing each newly Ready pod's address.
    pub fn show(&mut self, pods: &[Pod]) {
        let now = Utc::now();
        let rows: BTreeMap<String, Row> =
            pods.iter().map(|p| (p.metadata.name.clone(), Row::of(p, now))).collect();
        for p in pods.iter().filter(|p| is_ready(p)) {
            self.probe(p);
        }
        if self.tty {
            self.rows = rows;
            self.redraw();
        } else {
            for change in changes(&self.rows, &rows) {
                match change {
                    Change::Added(r) | Change::Changed(r) => println!("pod  {}", r.format()),
                    Change::Deleted(r) => println!("pod  {} deleted", r.name),
                }
            }
            self.rows = rows;
        }
    }

    /// Prints a line that stays: above the redrawn screen on a terminal.
    pub fn note(&mut self, line: impl std::fmt::Display) {
        if !self.tty {
            println!("{line}");
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = erase(&mut out, self.drawn);
        let _ = writeln!(out, "{line}");
        self.drawn = 0;
        drop(out);
        self.redraw();
    }

    /// Leaves the screen as it is: whatever is printed next goes below it.
    pub fn finish(&mut self) {
        self.drawn = 0;
    }

    fn probe(&mut self, p: &Pod) {
        let name = &p.metadata.name;
        if self.answered.contains_key(name) {
            return;
        }
        let Some(addr) = address(p) else { return };
        // Not listening yet: try again next round.
        let Some(body) = http_get(&addr) else { return };
        if body.contains(name.as_str()) {
            self.note(format!("pod {name} is ready at http://{addr}/ and answered {body:?}"));
        } else {
            self.failures.push(format!("pod {name} at {addr} answered {body:?}, not its name"));
        }
        self.answered.insert(name.clone(), body);
    }

    fn redraw(&mut self) {
        let (width, height) = crossterm::terminal::size().unwrap_or((120, 40));
        let rows: Vec<&Row> = self.rows.values().collect();
        let lines = screen(&rows, &self.events.recent(), width.into(), height.into());
        let mut out = std::io::stdout().lock();
        let _ = erase(&mut out, self.drawn);
        for l in &lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
        self.drawn = lines.len();
    }
}

/// Moves up over the `lines` last drawn and clears them.
fn erase(out: &mut impl Write, lines: usize) -> std::io::Result<()> {
    if lines > 0 {
        crossterm::queue!(out, MoveToPreviousLine(u16::try_from(lines).unwrap_or(u16::MAX)))?;
    }
    crossterm::queue!(out, Clear(ClearType::FromCursorDown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, phase: &str, ready: bool, age: &str) -> Row {
        Row {
            name: name.into(),
            node: "node-1".into(),
            phase: phase.into(),
            ready,
            restarts: 0,
            age: age.into(),
            address: "-".into(),
        }
    }

    fn table(rows: &[Row]) -> BTreeMap<String, Row> {
        rows.iter().map(|r| (r.name.clone(), r.clone())).collect()
    }

    #[test]
    fn a_new_age_alone_is_not_a_change() {
        let before = table(&[row("web-a", "Running", true, "4s")]);
        let now = table(&[row("web-a", "Running", true, "5s")]);
        assert_eq!(changes(&before, &now), vec![]);
    }

    #[test]
    fn new_changed_and_deleted_pods_are_changes_in_name_order() {
        let before = table(&[
            row("web-a", "Running", true, "9s"),
            row("web-b", "Pending", false, "1s"),
            row("web-c", "Running", true, "9s"),
        ]);
        let now = table(&[
            row("web-b", "Running", false, "2s"),
            row("web-c", "Running", true, "10s"),
            row("web-d", "Pending", false, "0s"),
        ]);
        assert_eq!(
            changes(&before, &now),
            vec![
                Change::Changed(&now["web-b"]),
                Change::Added(&now["web-d"]),
                Change::Deleted(&before["web-a"]),
            ]
        );
    }

    #[test]
    fn readiness_restarts_and_address_are_changes() {
        let before = table(&[row("web-a", "Running", false, "3s")]);
        for changed in [
            Row { ready: true, ..before["web-a"].clone() },
            Row { restarts: 1, ..before["web-a"].clone() },
            Row { address: "127.1.0.2:8080".into(), ..before["web-a"].clone() },
            Row { phase: "Terminating".into(), ..before["web-a"].clone() },
        ] {
            let now = table(std::slice::from_ref(&changed));
            assert_eq!(changes(&before, &now), vec![Change::Changed(&now["web-a"])], "{changed:?}");
        }
    }

    #[test]
    fn the_screen_is_the_table_then_the_recent_events() {
        let rows = [row("web-a", "Running", true, "3s"), row("web-b", "Pending", false, "1s")];
        let rows: Vec<&Row> = rows.iter().collect();
        let events = vec!["Normal  Scheduled            pod/web-a: to node-1".to_string()];
        let lines = screen(&rows, &events, 200, 40);
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert!(lines[0].starts_with("POD") && lines[0].ends_with("ADDRESS"), "{}", lines[0]);
        assert!(lines[1].starts_with("web-a") && lines[2].starts_with("web-b"));
        assert_eq!((lines[3].as_str(), lines[4].as_str()), ("", "LAST EVENTS"));
        assert_eq!(lines[5], events[0]);
    }

    #[test]
    fn the_screen_fits_the_terminal() {
        let many: Vec<Row> =
            (0..50).map(|i| row(&format!("web-{i:02}"), "Running", true, "1s")).collect();
        let rows: Vec<&Row> = many.iter().collect();
        let events = vec!["e".repeat(300); RECENT_EVENTS];
        let lines = screen(&rows, &events, 80, 24);
        assert!(lines.len() < 24, "{} lines on a 24-line terminal", lines.len());
        assert!(lines.iter().all(|l| l.chars().count() <= 79), "{lines:#?}");
        let more = lines.iter().find(|l| l.contains("more pods")).expect("a count of the rest");
        let shown = lines.iter().filter(|l| l.starts_with("web-")).count();
        assert_eq!(more, &format!("… {} more pods", 50 - shown));
    }
}
