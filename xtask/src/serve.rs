//! Serves the built book over HTTP, for a browser on this machine (or, with
//! `--bind 0.0.0.0`, on a classroom network where students will try
//! everything on it).
//!
//! HTTP is hyper's: it parses requests, answers malformed ones with the
//! right status, and closes a connection whose request head has not
//! arrived in full within [`HEAD_DEADLINE`]. Files are tower-http's
//! `ServeDir`: MIME types, `index.html` for a folder, ranges, conditional
//! requests, and no `..` out of the folder. What is ours: the accept loop
//! that pauses instead of spinning when the process runs out of file
//! descriptors, a write timeout for a response nobody reads, and a check
//! that a symbolic link does not lead out of the book.
//!
//! Each connection is a task of its own, so no connection waits for
//! another. (A thread pool that left some of a browser's parallel
//! connections unread once made pages hang half-loaded; the tests keep
//! sending a dozen requests before reading any reply.)

use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;
use tower_http::services::fs::{Backend, ServeDir, ServeFile, TokioBackend};
use tower_http::set_status::SetStatus;

/// How long a client may take to send a whole request head, from the
/// moment the server starts waiting for it (nginx's
/// `client_header_timeout`; an idle kept-alive connection ends too).
const HEAD_DEADLINE: Duration = Duration::from_secs(10);

/// How long a write may wait for a client that reads nothing.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the accept loop pauses after a failed accept: when the process
/// has no file descriptor left, every accept fails at once until one is
/// freed, and retrying without a pause burns a core.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

pub fn serve(
    html_dir: &Path,
    address: SocketAddr,
    open: bool,
) -> Result<(), String> {
    // One thread answers every connection (file reads go to tokio's
    // blocking threads): plenty for a classroom, and nothing to share.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the server: {error}"))?;
    runtime.block_on(async {
        let root = std::fs::canonicalize(html_dir).map_err(|error| {
            format!("cannot serve {}: {error}", html_dir.display())
        })?;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|error| format!("cannot serve on {address}: {error}"))?;
        let bound = listener.local_addr().map_err(|error| {
            format!("cannot read the bound address: {error}")
        })?;
        let url = if bound.ip().is_unspecified() {
            format!("http://127.0.0.1:{}/", bound.port())
        } else {
            format!("http://{bound}/")
        };
        println!("serving the book at {url} (Ctrl-C to stop)");
        if open && let Err(error) = opener::open_browser(&url) {
            eprintln!("cannot open a browser ({error}); open {url} yourself");
        }
        answer_all(listener, root).await;
        Ok(())
    })
}

/// Answers every connection to `listener`, each in a task of its own.
async fn answer_all(listener: TcpListener, root: PathBuf) {
    let not_found = ServeFile::new(root.join("404.html"));
    let book = ServeDir::with_backend(
        &root,
        InsideRoot {
            root: Arc::new(root.clone()),
        },
    )
    .not_found_service(not_found);
    // Set while accept keeps failing, so that a run of failures is
    // reported once, not once per retry.
    let mut failing = false;
    loop {
        match listener.accept().await {
            Ok((connection, _)) => {
                failing = false;
                tokio::spawn(answer(connection, book.clone()));
            }
            Err(error) => {
                if !failing {
                    eprintln!(
                        "cannot accept connections ({error}); retrying \
                         every {} ms",
                        ACCEPT_PAUSE.as_millis()
                    );
                    failing = true;
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

/// Answers the requests of one connection until it closes, a deadline
/// passes, or the client sends something that is not HTTP/1.
async fn answer(connection: TcpStream, book: Book) {
    let mut connection = TimeoutStream::new(connection);
    connection.set_write_timeout(Some(WRITE_TIMEOUT));
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_DEADLINE)
        // A client that shuts down its sending side after its request
        // (`nc -N`, a Python script) still gets the answer.
        .half_close(true)
        .serve_connection(
            TokioIo::new(Box::pin(connection)),
            TowerToHyperService::new(book),
        )
        .await;
    // A client that leaves, stalls or sends garbage ends its connection;
    // that is no news for the teacher's terminal, and a class could fill
    // it with such lines.
    drop(served);
}

/// The book's files, and its 404 page for anything else.
type Book = ServeDir<SetStatus<ServeFile>, InsideRoot>;

/// `ServeDir`'s own file system access, refusing every path whose real
/// location (symbolic links followed) is outside the book's folder:
/// `ServeDir` already refuses `..`, but follows links.
#[derive(Clone)]
struct InsideRoot {
    /// The book's folder, canonical.
    root: Arc<PathBuf>,
}

type Boxed<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

/// `path` as it really is, if that is inside `root`; otherwise, to the
/// client, a file that is not there.
async fn inside(root: Arc<PathBuf>, path: PathBuf) -> io::Result<PathBuf> {
    let real = tokio::fs::canonicalize(&path).await?;
    if real.starts_with(&*root) {
        Ok(real)
    } else {
        Err(io::Error::new(ErrorKind::NotFound, "outside the book"))
    }
}

impl Backend for InsideRoot {
    type File = <TokioBackend as Backend>::File;
    type Metadata = std::fs::Metadata;
    type OpenFuture = Boxed<Self::File>;
    type MetadataFuture = Boxed<Self::Metadata>;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        let real = inside(Arc::clone(&self.root), path);
        Box::pin(async move { TokioBackend.open(real.await?).await })
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        let real = inside(Arc::clone(&self.root), path);
        Box::pin(async move { TokioBackend.metadata(real.await?).await })
    }
}
