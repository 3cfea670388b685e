//! Typed remote methods: an async fn of up to six arguments, each read with serde from the
//! request's positional `args` (a missing one reads as `null`, so `Option<T>` works).

use std::future::Future;
use std::sync::Arc;

use bytestring::ByteString;
use serde::de::DeserializeOwned;

use super::ReplyFuture;
use super::reply::{IntoReply, RemoteError};
use crate::message::{Args, JsonError, RawJson};
use crate::transport::PeerInfo;

/// What a raw handler can see besides its arguments.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The connection the request came on.
    pub peer: PeerInfo,
    /// The request's namespace.
    pub namespace: ByteString,
    /// The remote module called.
    pub service: ByteString,
    /// The method called.
    pub method: ByteString,
}

/// The boxed form every registered method takes.
pub(crate) type BoxHandler = Arc<dyn Fn(CallContext, Args) -> ReplyFuture + Send + Sync>;

/// A typed remote method: an async fn of up to six deserializable arguments.
pub trait Handler<Params>: Send + Sync + 'static {
    /// Calls the handler with the request's arguments.
    fn call(&self, args: Args, at: Arc<str>) -> ReplyFuture;
}

fn arg<T: DeserializeOwned>(args: &mut std::vec::IntoIter<RawJson>) -> Result<T, JsonError> {
    args.next().unwrap_or_else(RawJson::null).deserialize()
}

fn failed(at: Arc<str>, what: impl std::fmt::Display) -> ReplyFuture {
    let err = RemoteError::new(format!("{at}: {what}"));
    Box::pin(async move { err.to_resp(&at) })
}

macro_rules! impl_handler {
    ($($a:ident),*) => {
        impl<F, Fut, R, $($a,)*> Handler<($($a,)*)> for F
        where
            F: Fn($($a),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply,
            $($a: DeserializeOwned + Send + 'static,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables, unused_assignments)]
            fn call(&self, args: Args, at: Arc<str>) -> ReplyFuture {
                let mut it = match args.elements() {
                    Ok(e) => e.into_iter(),
                    Err(e) => return failed(at, e),
                };
                let mut i = 0;
                $(
                    let $a: $a = match arg(&mut it) {
                        Ok(v) => v,
                        Err(e) => return failed(at, format_args!("invalid argument {i}: {e}")),
                    };
                    i += 1;
                )*
                let fut = (self)($($a),*);
                Box::pin(async move { fut.await.into_reply(&at) })
            }
        }
    };
}

impl_handler!();
impl_handler!(A1);
impl_handler!(A1, A2);
impl_handler!(A1, A2, A3);
impl_handler!(A1, A2, A3, A4);
impl_handler!(A1, A2, A3, A4, A5);
impl_handler!(A1, A2, A3, A4, A5, A6);
