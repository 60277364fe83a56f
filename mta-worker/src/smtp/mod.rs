//! SMTP: the listener and the session driver. Protocol parsing is smtp-proto's; one file
//! per command (`connect`, `ehlo`, `mail`, `rcpt`, `data`) asks the stages below what to
//! answer, and `accept` runs a complete message through them. Replies are buffered while a
//! client pipelines and written once per read.

mod accept;
mod connect;
mod data;
mod ehlo;
mod mail;
mod rcpt;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver, RequestReceiver};
use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::Instrument;
use uuid::Uuid;

use crate::node::state::Worker;

use crate::envelope::routing::AcceptedRcpt;

/// Read buffer while reading commands, and while receiving a message.
const COMMAND_BUFFER: usize = 1024;
const DATA_BUFFER: usize = 16 * 1024;

/// Most simultaneous SMTP sessions; past it new connections get a 421.
const MAX_SESSIONS: usize = 20_000;

/// Accepts connections forever.
pub async fn serve(worker: Worker, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_SESSIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let worker = worker.clone();
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = stream.write_all(b"421 4.3.2 Too many connections, try again later\r\n").await;
            });
            continue;
        };
        tokio::spawn(async move {
            worker.metrics.sessions.inc();
            handle_connection(worker.clone(), stream, peer).await;
            worker.metrics.sessions.dec();
            drop(permit);
        });
    }
}

/// A conversation of the node's own over an in-memory stream (a test delivery's test
/// message): the stages any client's mail goes through, as a trusted gateway — no tarpit,
/// DNS lists, greylisting or rate limits, which judge strangers' connections — and without
/// authenticating the sender, which is this node. Content filtering, the recipient's lists
/// and policy, the spool and the delivery queue are as for any mail.
pub async fn converse_locally(worker: Worker, stream: tokio::io::DuplexStream) {
    let mut session = Session::new(worker, SocketAddr::from(([127, 0, 0, 1], 0)));
    session.trusted = true;
    session.local = true;
    let span = tracing::info_span!("smtp", session = "local");
    if let Err(err) = session.run(stream, true).instrument(span).await {
        tracing::debug!(%err, "local session ended with an error");
    }
}

async fn handle_connection(worker: Worker, stream: TcpStream, peer: SocketAddr) {
    let session_id = Uuid::new_v4().simple().to_string()[..12].to_string();
    let span = tracing::info_span!("smtp", session = %session_id, peer = %peer);
    handle_session(worker, stream, peer, session_id).instrument(span).await
}

async fn handle_session(worker: Worker, stream: TcpStream, peer: SocketAddr, session_id: String) {
    worker.metrics.connections.inc();
    let mut session = Session::new(worker.clone(), peer);
    let _open = OpenConnection::new(&worker, crate::connection::limits::client_key(peer.ip()));
    session.open_connections = _open.count;
    tracing::debug!(%session_id, "session started");
    match session.run(stream, true).await {
        Ok(Some(stream)) => {
            let Some(acceptor) = worker.tls.clone() else { return };
            // A client that says STARTTLS and then goes quiet must not hold the session.
            let limit = Duration::from_secs(worker.config.tls_handshake_timeout_secs);
            match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    session.reset_after_tls();
                    if let Err(err) = session.run(tls_stream, false).await {
                        tracing::debug!(%err, "session ended with an error");
                    }
                }
                Ok(Err(err)) => tracing::info!(%err, "TLS handshake failed"),
                Err(_) => tracing::info!("TLS handshake timed out"),
            }
        }
        Ok(None) => {}
        Err(err) => tracing::debug!(%err, "session ended with an error"),
    }
}

/// Counts a client's open connections while it lives.
struct OpenConnection {
    worker: Worker,
    ip: std::net::IpAddr,
    count: usize,
}

impl OpenConnection {
    fn new(worker: &Worker, ip: std::net::IpAddr) -> OpenConnection {
        let mut open = worker.limits.open.lock().expect("connection counts");
        let count = open.entry(ip).or_insert(0);
        *count += 1;
        OpenConnection { worker: worker.clone(), ip, count: *count }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Ok(mut open) = self.worker.limits.open.lock()
            && let Some(n) = open.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What the session is reading.
enum Reading {
    Commands,
    Data(DataReceiver),
    Bdat(BdatReceiver),
    /// Swallowing a BDAT chunk (or oversized DATA) that will be refused at its end.
    Discard(DummyDataReceiver, &'static str),
}

/// One SMTP conversation and its current transaction.
pub struct Session {
    pub worker: Worker,
    pub peer: SocketAddr,
    pub tls: bool,
    pub helo: Option<String>,
    pub esmtp: bool,
    pub mail_from: Option<String>,
    pub body_8bit: bool,
    pub smtputf8: bool,
    pub rcpts: Vec<AcceptedRcpt>,
    pub data: Vec<u8>,
    pub commands: usize,
    /// Set after a failed BDAT: every chunk until the last is refused.
    pub bdat_failed: bool,
    /// The client is a known gateway (no delay, no DNSBL, no rate limits).
    pub trusted: bool,
    /// The node's own conversation (a test delivery's test message): trusted, and its sender
    /// is not authenticated (it is this node).
    pub local: bool,
    /// Connections this client has open, this one included.
    pub open_connections: usize,
    /// DNSBL score handed to content scoring (when the DNSBL action is `score`).
    pub dnsbl_score: i32,
    /// The client has seen our EHLO answer, so it may pipeline.
    pub pipelining_ok: bool,
    /// The largest message of this transaction (fixed at MAIL FROM; see [`Session::max_message_size`]).
    pub size_limit: usize,
    /// The `SIZE=` the client declared at MAIL FROM (0: none).
    pub declared_size: usize,
    /// The policy snapshot of the current transaction, taken at MAIL FROM so that every RCPT
    /// and DATA decision of it sees one version; none between transactions, so idle
    /// sessions pin no old snapshot.
    pub txn_policy: Option<std::sync::Arc<crate::policy::PolicyIndex>>,
    replies: Vec<u8>,
}

/// What the read loop does after one step.
enum Flow {
    /// Go on with the bytes at hand.
    More,
    /// The bytes at hand are used up: read more.
    NeedMore,
    /// Close the connection (after sending what is queued).
    Stop,
    /// Hand the connection to TLS.
    StartTls,
}

/// How a stage wants the session to continue.
pub enum Next {
    Continue,
    StartData,
    StartTls,
    Close,
}

impl Session {
    fn new(worker: Worker, peer: SocketAddr) -> Session {
        let trusted = worker.is_trusted(peer.ip());
        Session {
            worker,
            peer,
            tls: false,
            helo: None,
            esmtp: false,
            mail_from: None,
            body_8bit: false,
            smtputf8: false,
            rcpts: Vec::new(),
            data: Vec::new(),
            commands: 0,
            bdat_failed: false,
            trusted,
            local: false,
            open_connections: 0,
            dnsbl_score: 0,
            pipelining_ok: false,
            size_limit: 0,
            declared_size: 0,
            txn_policy: None,
            replies: Vec::new(),
        }
    }

    /// The largest message accepted now: the worker's limit, or the API's when that is
    /// smaller (a message the API could not take must not get a `250`).
    pub fn max_message_size(&self) -> usize {
        self.policy().max_message_size(self.worker.config.max_message_size)
    }

    /// The policy in force for this transaction (the current one outside a transaction).
    pub fn policy(&self) -> std::sync::Arc<crate::policy::PolicyIndex> {
        self.txn_policy.clone().unwrap_or_else(|| self.worker.policy.get())
    }

    /// Queues one reply line (`code esc text`).
    pub fn reply(&mut self, code: u16, esc: &str, text: &str) {
        self.replies.extend_from_slice(format!("{code} {esc} {text}\r\n").as_bytes());
    }

    fn replies_mut(&mut self) -> &mut Vec<u8> {
        &mut self.replies
    }

    /// Queues a multi-line reply.
    pub fn reply_lines(&mut self, code: u16, lines: &[String]) {
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            self.replies.extend_from_slice(format!("{code}{sep}{line}\r\n").as_bytes());
        }
    }

    /// Forgets the transaction (RSET, after DATA, after STARTTLS).
    pub fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.txn_policy = None;
        self.declared_size = 0;
        self.body_8bit = false;
        self.smtputf8 = false;
        self.rcpts.clear();
        self.data.clear();
        self.bdat_failed = false;
    }

    fn reset_after_tls(&mut self) {
        self.reset_transaction();
        self.tls = true;
        self.helo = None;
        self.esmtp = false;
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> std::io::Result<()> {
        if !self.replies.is_empty() {
            stream.write_all(&self.replies).await?;
            stream.flush().await?;
            self.replies.clear();
        }
        Ok(())
    }

    /// Runs the conversation on `stream`; answers the stream back when the client asked
    /// for STARTTLS (anything it pipelined after the command is discarded, as RFC 3207 asks).
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        mut stream: S,
        greet: bool,
    ) -> std::io::Result<Option<S>> {
        if greet && !connect::open(self, &mut stream).await? {
            return Ok(None);
        }
        // Idle sessions are the common case under attack: read commands through a small
        // buffer and grow it only while a message is coming in.
        let mut buf = vec![0u8; COMMAND_BUFFER];
        let mut requests = RequestReceiver::default();
        let mut reading = Reading::Commands;
        loop {
            let Some(n) = self.read_some(&mut stream, &mut buf, &reading).await? else { return Ok(None) };
            let mut iter = buf[..n].iter();
            loop {
                let flow = match &mut reading {
                    Reading::Commands => match requests.ingest(&mut iter) {
                        Ok(request) => {
                            let pipelined = iter.as_slice().len();
                            self.on_request(request.into_owned(), &mut reading, pipelined, &mut stream).await?
                        }
                        Err(ProtoError::NeedsMoreData { .. }) => Flow::NeedMore,
                        Err(err) => {
                            self.protocol_error(err);
                            Flow::More
                        }
                    },
                    _ => self.on_message_bytes(&mut reading, &mut iter).await,
                };
                match flow {
                    Flow::More => {}
                    Flow::NeedMore => break,
                    Flow::Stop => {
                        self.flush(&mut stream).await?;
                        return Ok(None);
                    }
                    Flow::StartTls => {
                        self.flush(&mut stream).await?;
                        return Ok(Some(stream));
                    }
                }
            }
            self.flush(&mut stream).await?;
        }
    }

    /// Reads what the client sent next, through a buffer sized for what is being read; `None`
    /// when the client left or stayed silent too long (it was told so).
    async fn read_some<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        buf: &mut Vec<u8>,
        reading: &Reading,
    ) -> std::io::Result<Option<usize>> {
        self.pipelining_ok = self.esmtp;
        let (timeout, size) = match reading {
            Reading::Commands => (self.worker.config.idle_timeout(), COMMAND_BUFFER),
            _ => (Duration::from_secs(self.worker.config.data_timeout_secs), DATA_BUFFER),
        };
        if buf.len() != size {
            buf.resize(size, 0);
            buf.shrink_to_fit();
        }
        match tokio::time::timeout(timeout, stream.read(buf)).await {
            Ok(Ok(0)) => Ok(None),
            Ok(Ok(n)) => Ok(Some(n)),
            Ok(Err(err)) => Err(err),
            Err(_) => {
                self.reply(421, "4.4.2", "Idle timeout, closing connection");
                self.flush(stream).await?;
                Ok(None)
            }
        }
    }

    /// One command: counted, answered, and checked for pipelining before EHLO allowed it
    /// (`pipelined`: the bytes already sent after it).
    async fn on_request<S: AsyncWrite + Unpin>(
        &mut self,
        request: Request<String>,
        reading: &mut Reading,
        pipelined: usize,
        stream: &mut S,
    ) -> std::io::Result<Flow> {
        self.commands += 1;
        if self.commands > self.worker.config.max_commands {
            self.reply(421, "4.7.0", "Too many commands, closing connection");
            return Ok(Flow::Stop);
        }
        let next = self.command(request, reading).await;
        if matches!(reading, Reading::Commands)
            && matches!(next, Next::Continue)
            && connect::pipelined_too_early(self, pipelined)
        {
            self.flush(stream).await?;
            self.worker.reputation.early_talker(self.peer.ip(), &self.worker.config);
            let reason = "early talker: pipelined before EHLO allowed it".to_string();
            connect::refuse(self, stream, "554 5.5.0 Protocol error: pipelining not allowed here", reason).await;
            return Ok(Flow::Stop);
        }
        Ok(match next {
            Next::Continue | Next::StartData => Flow::More,
            Next::StartTls => Flow::StartTls,
            Next::Close => Flow::Stop,
        })
    }

    /// Message bytes (DATA, BDAT, or a chunk being swallowed before its refusal).
    async fn on_message_bytes(&mut self, reading: &mut Reading, iter: &mut std::slice::Iter<'_, u8>) -> Flow {
        match reading {
            Reading::Commands => Flow::More,
            Reading::Data(receiver) => {
                let done = receiver.ingest(iter, &mut self.data);
                if self.data.len() > self.size_limit {
                    let dummy = DummyDataReceiver::new_data(receiver);
                    self.data.clear();
                    *reading = Reading::Discard(dummy, "552 5.3.4 Message too big");
                    return Flow::More;
                }
                if !done {
                    return Flow::NeedMore;
                }
                *reading = Reading::Commands;
                data::finish(self).await;
                Flow::More
            }
            Reading::Bdat(receiver) => {
                if !receiver.ingest(iter, &mut self.data) {
                    return Flow::NeedMore;
                }
                let last = receiver.is_last;
                *reading = Reading::Commands;
                data::bdat_chunk_done(self, last).await;
                Flow::More
            }
            Reading::Discard(receiver, reply) => {
                if !receiver.ingest(iter) {
                    return Flow::NeedMore;
                }
                let reply = *reply;
                *reading = Reading::Commands;
                self.replies.extend_from_slice(format!("{reply}\r\n").as_bytes());
                self.reset_transaction();
                Flow::More
            }
        }
    }

    fn protocol_error(&mut self, err: ProtoError) {
        match err {
            ProtoError::ResponseTooLong => self.reply(500, "5.5.2", "Line too long"),
            ProtoError::UnknownCommand => self.reply(500, "5.5.1", "Unrecognized command"),
            ProtoError::InvalidSenderAddress => self.reply(501, "5.1.7", "Bad sender address syntax"),
            ProtoError::InvalidRecipientAddress => self.reply(501, "5.1.3", "Bad recipient address syntax"),
            ProtoError::SyntaxError { syntax } => self.reply(501, "5.5.4", &format!("Syntax: {syntax}")),
            ProtoError::InvalidParameter { param } => self.reply(501, "5.5.4", &format!("Invalid parameter {param}")),
            ProtoError::UnsupportedParameter { param } => {
                self.reply(555, "5.5.4", &format!("Unsupported parameter {param}"))
            }
            other => self.reply(500, "5.5.2", &format!("Syntax error: {other}")),
        }
    }

    async fn command(&mut self, request: Request<String>, reading: &mut Reading) -> Next {
        match request {
            Request::Ehlo { host } => ehlo::ehlo(self, host, true),
            Request::Helo { host } => ehlo::ehlo(self, host, false),
            Request::Lhlo { .. } => {
                self.reply(500, "5.5.1", "LHLO is not spoken here");
                Next::Continue
            }
            Request::StartTls => ehlo::starttls(self),
            Request::Mail { from } => mail::mail_from(self, from),
            Request::Rcpt { to } => rcpt::rcpt_to(self, to),
            Request::Data => {
                let next = data::start_data(self);
                if let Next::StartData = next {
                    *reading = Reading::Data(DataReceiver::new());
                }
                next
            }
            Request::Bdat { chunk_size, is_last } => {
                match data::start_bdat(self, chunk_size) {
                    Ok(()) => *reading = Reading::Bdat(BdatReceiver::new(chunk_size, is_last)),
                    Err(reply) => *reading = Reading::Discard(DummyDataReceiver::new_bdat(chunk_size), reply),
                }
                Next::Continue
            }
            Request::Rset => {
                self.reset_transaction();
                self.reply(250, "2.0.0", "Ok");
                Next::Continue
            }
            Request::Noop { .. } => {
                self.reply(250, "2.0.0", "Ok");
                Next::Continue
            }
            Request::Vrfy { .. } => {
                self.reply(252, "2.1.5", "Cannot verify the user, but will accept the message and attempt delivery");
                Next::Continue
            }
            Request::Expn { .. } => {
                self.reply(502, "5.5.1", "EXPN is not supported");
                Next::Continue
            }
            Request::Help { .. } => {
                self.reply(214, "2.0.0", "See RFC 5321");
                Next::Continue
            }
            Request::Quit => {
                self.reply(221, "2.0.0", "Bye");
                Next::Close
            }
            Request::Auth { .. } => {
                self.reply(502, "5.5.1", "AUTH is not offered here");
                Next::Continue
            }
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                self.reply(502, "5.5.1", "Command not implemented");
                Next::Continue
            }
        }
    }
}
