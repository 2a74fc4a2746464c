//! An in-process TCP proxy that stands between a client (a cloud driver) and a real
//! server (an emulator) and breaks connections on purpose: each new connection draws a
//! fault (or none) from a [`FaultPlan`] with a seeded random generator, to strike at a
//! random byte of its request or response stream, and each direction that survives that
//! byte draws again for a byte further on:
//!
//! - [`Fault::Reset`]: both sockets are closed with `SO_LINGER` 0, so the client gets an
//!   RST (a "connection reset by peer") mid-request or mid-response;
//! - [`Fault::Stall`]: one direction stops forwarding for [`FaultPlan::stall`], then goes
//!   on (if both ends are still there);
//! - [`Fault::Truncate`]: the response is cut after the chosen byte and both sockets are
//!   closed normally (the client reads an early end of the body);
//! - [`Fault::Drop`]: the request is cut after the chosen byte and both sockets closed;
//! - [`Fault::Delay`]: every read of one direction is held up to [`FaultPlan::delay`];
//! - [`Fault::Flip`]: one byte of an HTTP message *body* (never of a head) is changed,
//!   in the request or the response: corruption in flight, which only checksums catch.
//!
//! The seed comes from `STORAGE_FAULT_SEED` when set (to replay a run), else from the
//! clock; [`FaultProxy::seed`] tells it and [`FaultProxy::start`] prints it. Each
//! connection's generator is derived from the seed and the connection's number, so a
//! replay draws the same faults for the same connection numbers (which connection gets
//! which number depends on the client's scheduling, so a replay is close, not exact).
//!
//! [`FaultProxy::counts`] says how many faults of each kind were actually injected (a
//! fault whose byte the connection never reached is not counted).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Close both sockets with an RST at a byte of the request or the response.
    Reset,
    /// Stop forwarding one direction for a while at a byte, then go on.
    Stall,
    /// Close both sockets (FIN) after a byte of the response.
    Truncate,
    /// Close both sockets (FIN) after a byte of the request.
    Drop,
    /// Hold every read of one direction for a random time.
    Delay,
    /// Change one byte of a request or response body.
    Flip,
}

impl Fault {
    /// Every kind, in the order of [`FaultCounts`].
    pub const ALL: [Fault; 6] = [Fault::Reset, Fault::Stall, Fault::Truncate, Fault::Drop, Fault::Delay, Fault::Flip];

    /// A short lower-case name (`reset`, `stall`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Reset => "reset",
            Fault::Stall => "stall",
            Fault::Truncate => "truncate",
            Fault::Drop => "drop",
            Fault::Delay => "delay",
            Fault::Flip => "flip",
        }
    }

    fn index(self) -> usize {
        Fault::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which faults a connection may get, and how strong they are.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// The chance (0 to 1) of each kind at each draw: a new connection's first, then each
    /// direction's next, drawn past the byte of the previous one; they add up to at most
    /// 1, the rest of the draws give no fault. At most one fault strikes per read (of up
    /// to 64 KiB).
    pub chances: Vec<(Fault, f64)>,
    /// The fault's byte is drawn log-uniformly from `0..span` of its direction's stream
    /// (the bytes of every request, or response, the connection carries, heads included),
    /// so that small requests are hit as well as large bodies.
    pub span: u64,
    /// Faults that may hit either direction (reset, stall, delay, flip) hit only this one
    /// when set (truncations hit responses, drops requests).
    pub direction: Option<Direction>,
    /// At most this many faults are drawn, over all connections (`None`: no limit).
    pub budget: Option<u64>,
    /// A new connection's first fault byte, fixed instead of drawn.
    pub at: Option<u64>,
    /// How long a [`Fault::Stall`] holds its direction.
    pub stall: Duration,
    /// The longest hold of one read under [`Fault::Delay`].
    pub delay: Duration,
}

impl FaultPlan {
    /// No fault at all (a plain forwarding proxy).
    pub fn none() -> Self {
        FaultPlan {
            chances: Vec::new(),
            span: 1,
            direction: None,
            budget: None,
            at: None,
            stall: Duration::ZERO,
            delay: Duration::ZERO,
        }
    }

    /// Every kind, each with chance `each`, at a byte within `span`.
    pub fn all(each: f64, span: u64) -> Self {
        FaultPlan {
            chances: Fault::ALL.iter().map(|f| (*f, each)).collect(),
            span,
            direction: None,
            budget: None,
            at: None,
            stall: Duration::from_secs(3),
            delay: Duration::from_millis(5),
        }
    }

    /// Only `fault`, on every connection, in `direction` (where it has a choice), at most
    /// `budget` times, at a byte within `span`.
    pub fn only(fault: Fault, direction: Direction, budget: u64, span: u64) -> Self {
        FaultPlan {
            chances: vec![(fault, 1.0)],
            direction: Some(direction),
            budget: Some(budget),
            ..FaultPlan::all(0.0, span)
        }
    }

    /// This plan without `fault`.
    pub fn without(mut self, fault: Fault) -> Self {
        self.chances.retain(|(f, _)| *f != fault);
        self
    }

    /// Draws a connection's fault (or none).
    fn draw(&self, rng: &mut Rng) -> Option<Fault> {
        let x = rng.unit();
        let mut acc = 0.0;
        for (fault, chance) in &self.chances {
            acc += chance;
            if x < acc {
                return Some(*fault);
            }
        }
        None
    }
}

/// A direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server.
    Request,
    /// Server to client.
    Response,
}

/// How many faults of each kind were injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Per kind, in the order of [`Fault::ALL`].
    pub injected: [u64; 6],
    /// Connections accepted.
    pub connections: u64,
}

impl FaultCounts {
    /// Faults of `kind` injected.
    pub fn get(&self, kind: Fault) -> u64 {
        self.injected[kind.index()]
    }

    /// Faults injected, all kinds together.
    pub fn total(&self) -> u64 {
        self.injected.iter().sum()
    }
}

impl std::fmt::Display for FaultCounts {
    /// `reset=3 stall=1 ... (of N connections)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for kind in Fault::ALL {
            write!(f, "{kind}={} ", self.get(kind))?;
        }
        write!(f, "(of {} connections)", self.connections)
    }
}

#[derive(Default)]
struct Counters {
    injected: [AtomicU64; 6],
    connections: AtomicU64,
    drawn: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    plan: Mutex<FaultPlan>,
    enabled: AtomicBool,
    seed: u64,
    counters: Counters,
}

/// A running fault proxy. Dropping it stops it and closes every connection it holds.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("seed", &self.shared.seed)
            .finish()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The seed of a run: `STORAGE_FAULT_SEED` when set (decimal), else one from the clock.
///
/// # Panics
/// When `STORAGE_FAULT_SEED` is set but is not a number.
pub fn seed_from_env() -> u64 {
    match std::env::var("STORAGE_FAULT_SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("STORAGE_FAULT_SEED={s:?} is not a decimal number")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 ^ u64::from(std::process::id())),
    }
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `upstream` (`host:port`, or a URL
    /// `http://host:port/...` whose authority is taken) with `plan` and `seed` (see
    /// [`seed_from_env`]), and prints the seed.
    ///
    /// # Panics
    /// When `upstream` does not resolve or the proxy cannot listen.
    pub async fn start(upstream: &str, plan: FaultPlan, seed: u64) -> FaultProxy {
        let authority = upstream.split("://").last().unwrap_or(upstream).split('/').next().unwrap_or(upstream);
        let upstream = tokio::net::lookup_host(authority)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("the fault proxy's upstream {authority:?} does not resolve"));
        let listener =
            TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("no port for the fault proxy: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("the fault proxy has no address: {e}"));
        eprintln!("fault proxy {addr} -> {upstream}: seed {seed} (replay with STORAGE_FAULT_SEED={seed})");
        let shared = Arc::new(Shared {
            upstream,
            plan: Mutex::new(plan),
            enabled: AtomicBool::new(true),
            seed,
            counters: Counters::default(),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy { addr, shared, task }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to put in a driver's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Faults injected so far, and connections accepted.
    pub fn counts(&self) -> FaultCounts {
        let c = &self.shared.counters;
        FaultCounts {
            injected: std::array::from_fn(|i| c.injected[i].load(Ordering::Relaxed)),
            connections: c.connections.load(Ordering::Relaxed),
        }
    }

    /// Turns faults on or off: off, new connections get none and open ones draw no more
    /// (a fault an open connection already drew still strikes).
    pub fn set_enabled(&self, on: bool) {
        self.shared.enabled.store(on, Ordering::Relaxed);
    }

    /// Replaces the plan for connections accepted from now on.
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.shared.plan.lock().unwrap_or_else(PoisonError::into_inner) = plan;
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Dropped with this task (when the proxy is dropped), aborting every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                let n = shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                let mut rng = Rng::new(shared.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let fault = if shared.enabled.load(Ordering::Relaxed) {
                    let plan = shared.plan.lock().unwrap_or_else(PoisonError::into_inner);
                    let budget = plan.budget.unwrap_or(u64::MAX);
                    plan.draw(&mut rng).filter(|_| shared.counters.drawn.fetch_add(1, Ordering::Relaxed) < budget)
                } else {
                    None
                };
                let shared = shared.clone();
                connections.spawn(async move { serve(client, shared, fault, rng).await });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>, fault: Option<Fault>, mut rng: Rng) {
    let Ok(mut upstream) = TcpStream::connect(shared.upstream).await else { return };
    let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
    let plan = shared.plan.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let coin = rng.below(2) == 0;
    let to_request = match fault {
        Some(Fault::Drop) => true,
        Some(Fault::Truncate) => false,
        _ => plan.direction.map_or(coin, |d| d == Direction::Request),
    };
    let first = |d: Direction, rng: &mut Rng| {
        let at = plan.at.unwrap_or_else(|| log_uniform(rng, plan.span));
        let fault = fault.filter(|_| to_request == (d == Direction::Request));
        Some(Trigger { fault, at })
    };
    let methods = Arc::new(Mutex::new(VecDeque::new()));
    let (cr, cw) = client.split();
    let (ur, uw) = upstream.split();
    let request = Pump {
        direction: Direction::Request,
        trigger: first(Direction::Request, &mut rng),
        delay: None,
        frames: Framing::new(false, methods.clone()),
        rng: Rng::new(rng.next()),
        plan: &plan,
        shared: &shared,
    };
    let response = Pump {
        direction: Direction::Response,
        trigger: first(Direction::Response, &mut rng),
        delay: None,
        frames: Framing::new(true, methods),
        rng: Rng::new(rng.next()),
        plan: &plan,
        shared: &shared,
    };
    let mut request = std::pin::pin!(request.run(cr, uw));
    let mut response = std::pin::pin!(response.run(ur, cw));
    tokio::select! {
        end = &mut request => if end == End::Eof { response.await; },
        end = &mut response => if end == End::Eof { request.await; },
    }
    // Both sockets close here: with an RST after Fault::Reset, else a FIN.
}

/// Log-uniform in `0..span`.
fn log_uniform(rng: &mut Rng, span: u64) -> u64 {
    ((span.max(1) as f64).ln() * rng.unit()).exp() as u64 - 1
}

/// One direction's next fault.
#[derive(Clone, Copy, Debug)]
struct Trigger {
    /// `None`: no fault, only a point where the next one is drawn.
    fault: Option<Fault>,
    /// The byte of the direction's stream where it strikes.
    at: u64,
}

/// How a direction ended.
#[derive(PartialEq, Eq)]
enum End {
    /// The sender closed its side: the other direction goes on.
    Eof,
    /// The connection is to be closed now.
    Kill,
}

/// One direction of a connection. Past its fault byte, or a byte where it drew no fault,
/// a direction that survives (no fault, a stall, a flip, the start of delays) draws its
/// next fault from the plan (within the budget) for a byte up to `span` further on, so
/// that a long-lived pooled connection meets faults all along.
struct Pump<'a> {
    direction: Direction,
    trigger: Option<Trigger>,
    /// The longest hold of each read, once a delay fault has struck.
    delay: Option<Duration>,
    frames: Framing,
    rng: Rng,
    plan: &'a FaultPlan,
    shared: &'a Shared,
}

impl Pump<'_> {
    fn count(&self, fault: Fault) {
        self.shared.counters.injected[fault.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The next fault of this direction, at a byte after `pos`.
    fn rearm(&mut self, pos: u64) {
        self.trigger = None;
        if !self.shared.enabled.load(Ordering::Relaxed) {
            return;
        }
        let fits = |fault: &Fault| match fault {
            Fault::Drop => self.direction == Direction::Request,
            Fault::Truncate => self.direction == Direction::Response,
            _ => self.plan.direction.is_none_or(|d| d == self.direction),
        };
        let budget = self.plan.budget.unwrap_or(u64::MAX);
        let fault = self
            .plan
            .draw(&mut self.rng)
            .filter(|f| fits(f) && self.shared.counters.drawn.fetch_add(1, Ordering::Relaxed) < budget);
        self.trigger = Some(Trigger { fault, at: pos + log_uniform(&mut self.rng, self.plan.span) });
    }

    async fn run(mut self, mut from: tokio::net::tcp::ReadHalf<'_>, mut to: tokio::net::tcp::WriteHalf<'_>) -> End {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = 0u64;
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown().await;
                    return End::Eof;
                }
                Ok(n) => n,
            };
            if let Some(max) = self.delay {
                let nanos = self.rng.below(max.as_nanos().max(1) as u64);
                tokio::time::sleep(Duration::from_nanos(nanos)).await;
            }
            let chunk = &mut buf[..n];
            let body = self.frames.feed(chunk);
            let end = pos + n as u64;
            let mut sent = 0usize;
            if let Some(t) = self.trigger
                && end > t.at
            {
                let cut = usize::try_from(t.at.saturating_sub(pos)).unwrap_or(n).min(n);
                match t.fault {
                    None => self.rearm(end),
                    Some(fault @ (Fault::Reset | Fault::Truncate | Fault::Drop)) => {
                        self.count(fault);
                        let _ = to.write_all(&chunk[..cut]).await;
                        if fault == Fault::Reset {
                            // Closing a socket with SO_LINGER 0 sends an RST, not a FIN.
                            let _ = (from.as_ref().set_zero_linger(), to.as_ref().set_zero_linger());
                        }
                        return End::Kill;
                    }
                    Some(Fault::Stall) => {
                        if to.write_all(&chunk[..cut]).await.is_err() {
                            return End::Kill;
                        }
                        self.count(Fault::Stall);
                        tokio::time::sleep(self.plan.stall).await;
                        sent = cut;
                        self.rearm(end);
                    }
                    Some(Fault::Delay) => {
                        self.count(Fault::Delay);
                        self.delay = Some(self.plan.delay);
                        self.rearm(end);
                    }
                    Some(Fault::Flip) => {
                        // The first body byte at or after the fault byte, if this read has one.
                        if let Some(i) = body.iter().flat_map(|r| r.clone()).find(|i| *i >= cut) {
                            chunk[i] ^= 1 << self.rng.below(8);
                            self.count(Fault::Flip);
                            self.rearm(end);
                        }
                    }
                }
            }
            if to.write_all(&chunk[sent..]).await.is_err() {
                return End::Kill;
            }
            pos = end;
        }
    }
}

/// Where the bodies of HTTP/1.1 messages lie in one direction of a connection, so that
/// [`Fault::Flip`] changes data, never a head. Requests are framed by `content-length`;
/// responses by their request's method (`HEAD`: no body), their status (1xx, 204, 304: no
/// body) and `content-length`, or run to the end of the connection. A chunked message
/// stops the tracking (no byte of the connection counts as body from then on).
struct Framing {
    response: bool,
    /// The methods of the requests sent on the connection, oldest first (the request
    /// direction pushes, the response direction pops).
    methods: Arc<Mutex<VecDeque<String>>>,
    state: State,
}

enum State {
    /// Reading a head: what was read of it so far.
    Head(Vec<u8>),
    /// In a body: bytes left.
    Body(u64),
    /// A body that runs to the end of the connection.
    ToEnd,
    /// Framing unknown (chunked): nothing is body.
    Lost,
}

/// Longest head kept while looking for its end.
const MAX_HEAD: usize = 64 * 1024;

impl Framing {
    fn new(response: bool, methods: Arc<Mutex<VecDeque<String>>>) -> Self {
        Framing { response, methods, state: State::Head(Vec::new()) }
    }

    /// The ranges of `chunk` (the next bytes of the stream) that are body bytes.
    fn feed(&mut self, chunk: &[u8]) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < chunk.len() {
            match &mut self.state {
                State::Lost => break,
                State::ToEnd => {
                    out.push(i..chunk.len());
                    break;
                }
                State::Body(left) => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(chunk.len() - i);
                    out.push(i..i + take);
                    *left -= take as u64;
                    i += take;
                    if *left == 0 {
                        self.state = State::Head(Vec::new());
                    }
                }
                State::Head(head) => {
                    // Byte by byte until the blank line (heads are small).
                    head.push(chunk[i]);
                    i += 1;
                    if head.ends_with(b"\r\n\r\n") {
                        let head = std::mem::take(head);
                        self.state = self.after_head(&head);
                    } else if head.len() > MAX_HEAD {
                        self.state = State::Lost;
                    }
                }
            }
        }
        out
    }

    /// The state after a complete head.
    fn after_head(&self, head: &[u8]) -> State {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let first = lines.next().unwrap_or("");
        let mut length = None;
        let mut chunked = false;
        for line in lines {
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse::<u64>().ok();
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut methods = self.methods.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.response {
            methods.push_back(first.split(' ').next().unwrap_or("").to_owned());
            return match (chunked, length) {
                (true, _) => State::Lost,
                (false, Some(n)) if n > 0 => State::Body(n),
                _ => State::Head(Vec::new()),
            };
        }
        let status: u16 = first.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        if (100..200).contains(&status) {
            // An interim answer: the final one follows for the same request.
            return State::Head(Vec::new());
        }
        let Some(method) = methods.pop_front() else {
            // A response to a request this side did not see (its framing was lost).
            return State::Lost;
        };
        if method == "HEAD" || status == 204 || status == 304 {
            return State::Head(Vec::new());
        }
        match (chunked, length) {
            (true, _) => State::Lost,
            (false, Some(0)) => State::Head(Vec::new()),
            (false, Some(n)) => State::Body(n),
            (false, None) => State::ToEnd,
        }
    }
}

/// The proxy's generator, the same SplitMix64 as `ChaosLayer`'s (the proxy's draws and
/// the tests' own, so that one seed replays both).
pub use storage_core::layers::SplitMix64 as Rng;

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(response: bool, methods: &[&str]) -> Framing {
        let q = methods.iter().map(|m| (*m).to_owned()).collect();
        Framing::new(response, Arc::new(Mutex::new(q)))
    }

    #[test]
    fn bodies_are_found_across_reads_and_messages() {
        let mut f = framing(false, &[]);
        let wire = b"PUT /a HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\nContent-Length: 2\r\n\r\nxy";
        let (a, b) = wire.split_at(20);
        let mut body = Vec::new();
        for r in f.feed(a) {
            body.extend_from_slice(&a[r]);
        }
        for r in f.feed(b) {
            body.extend_from_slice(&b[r]);
        }
        assert_eq!(body, b"abcxy");
        assert_eq!(*f.methods.lock().unwrap(), ["PUT", "GET", "POST"]);
    }

    #[test]
    fn responses_follow_their_requests() {
        let mut f = framing(true, &["HEAD", "PUT", "GET"]);
        let wire = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc";
        let bodies = f.feed(wire);
        assert!(bodies.is_empty(), "{bodies:?}");
        assert!(matches!(f.state, State::Lost));
        let mut f = framing(true, &["GET"]);
        let r = f.feed(b"HTTP/1.0 200 OK\r\n\r\nrest");
        assert_eq!(r, vec![std::ops::Range { start: 19, end: 23 }]);
    }

    #[test]
    fn plans_draw_within_their_chances() {
        let plan = FaultPlan::all(0.1, 10);
        let mut rng = Rng::new(7);
        let drawn: Vec<_> = (0..10_000).map(|_| plan.draw(&mut rng)).collect();
        let none = drawn.iter().filter(|d| d.is_none()).count();
        assert!((3_000..5_000).contains(&none), "{none}");
        for kind in Fault::ALL {
            assert!(drawn.contains(&Some(kind)), "{kind}");
        }
        assert_eq!(FaultPlan::none().draw(&mut rng), None);
        let only = FaultPlan::only(Fault::Flip, Direction::Request, 1, 10);
        assert_eq!(only.draw(&mut rng), Some(Fault::Flip));
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        assert!((0..100).all(|_| a.next() == b.next()));
    }

    const BODY: usize = 200_000;

    /// A server answering every request with `BODY` bytes of `b'a'`.
    async fn upstream() -> String {
        let server = crate::http::serve(|_| crate::http::Reply::new(200, "text/plain", "a".repeat(BODY))).await;
        server.base
    }

    /// One request through a proxy with only `fault`: the answer's bytes, and the error
    /// that ended the read, if any.
    async fn through(fault: Fault, span: u64) -> (Vec<u8>, Option<std::io::ErrorKind>, FaultCounts) {
        let plan = FaultPlan {
            stall: Duration::from_millis(10),
            delay: Duration::from_millis(1),
            ..FaultPlan::only(fault, Direction::Response, 1, span)
        };
        let proxy = FaultProxy::start(&upstream().await, plan, 3).await;
        let mut sock = TcpStream::connect(proxy.addr()).await.unwrap();
        sock.write_all(b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n").await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let error = loop {
            match sock.read(&mut buf).await {
                Ok(0) => break None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break Some(e.kind()),
            }
        };
        (got, error, proxy.counts())
    }

    /// The body of an answer (nothing when its head was cut short).
    fn body(answer: &[u8]) -> &[u8] {
        answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(&[], |at| &answer[at + 4..])
    }

    #[tokio::test]
    async fn each_fault_does_what_it_says() {
        let (got, error, counts) = through(Fault::Flip, 1).await;
        assert_eq!(error, None);
        assert_eq!(body(&got).len(), BODY);
        assert_eq!(body(&got).iter().filter(|b| **b != b'a').count(), 1, "one body byte changed");
        assert!(got.starts_with(b"HTTP/1.1 200 "));
        assert_eq!((counts.get(Fault::Flip), counts.total(), counts.connections), (1, 1, 1));

        let (got, error, counts) = through(Fault::Truncate, 50_000).await;
        assert_eq!(error, None, "a FIN, not an error");
        assert!(got.len() < 50_000 && body(&got).iter().all(|b| *b == b'a'), "{}", got.len());
        assert_eq!(counts.get(Fault::Truncate), 1);

        // Dropped at the request's first byte: the server never answers.
        let (got, error, counts) = through(Fault::Drop, 1).await;
        assert_eq!((got.len(), error, counts.get(Fault::Drop)), (0, None, 1));

        let (got, error, counts) = through(Fault::Reset, 50_000).await;
        assert_eq!(error, Some(std::io::ErrorKind::ConnectionReset), "{} bytes", got.len());
        assert_eq!(counts.get(Fault::Reset), 1);

        for kind in [Fault::Stall, Fault::Delay] {
            let (got, error, counts) = through(kind, 10_000).await;
            assert_eq!((body(&got).len(), error), (BODY, None), "{kind}");
            assert!(body(&got).iter().all(|b| *b == b'a'), "{kind}");
            assert_eq!(counts.get(kind), 1, "{kind}");
        }
    }

    #[tokio::test]
    async fn a_connection_that_survives_a_fault_meets_more() {
        let plan = FaultPlan { direction: Some(Direction::Response), ..FaultPlan::all(0.0, 20_000) };
        let plan = FaultPlan { chances: vec![(Fault::Flip, 1.0)], ..plan };
        let proxy = FaultProxy::start(&upstream().await, plan, 9).await;
        let mut sock = TcpStream::connect(proxy.addr()).await.unwrap();
        sock.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut got = Vec::new();
        sock.read_to_end(&mut got).await.unwrap();
        let changed = body(&got).iter().filter(|b| **b != b'a').count() as u64;
        assert_eq!(body(&got).len(), BODY);
        // At most one fault strikes per read (of up to 64 KiB).
        assert!(changed >= 2, "{changed} flips in {BODY} bytes");
        assert_eq!(proxy.counts().get(Fault::Flip), changed);
    }

    #[tokio::test]
    async fn a_budget_spares_later_connections() {
        let proxy =
            FaultProxy::start(&upstream().await, FaultPlan::only(Fault::Drop, Direction::Request, 1, 1), 5).await;
        for expect_answer in [false, true, true] {
            let mut sock = TcpStream::connect(proxy.addr()).await.unwrap();
            sock.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
            let mut got = Vec::new();
            let _ = sock.read_to_end(&mut got).await;
            assert_eq!(!got.is_empty(), expect_answer);
        }
        assert_eq!((proxy.counts().get(Fault::Drop), proxy.counts().connections), (1, 3));
    }
}
