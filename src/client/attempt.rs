//! One call's way through the client: routing, the failure mode's retries, the station's
//! connection, the mailbox, all under the call's deadline.

use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tower::Service;

use super::{CallRequest, ClientError, FailMode, Inner, RouteContext, Router, Target};
use crate::message::{Resp, RpcMsg};

/// The innermost service of the tower stack.
#[derive(Clone)]
pub(super) struct Core {
    pub inner: std::sync::Arc<Inner>,
}

impl Service<CallRequest> for Core {
    type Response = Resp;
    type Error = ClientError;
    type Future = BoxFuture<'static, Result<Resp, ClientError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: CallRequest) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { inner.call(&req.target, &req.msg, req.timeout).await })
    }
}

impl Inner {
    /// One call under its deadline: what the tower stack's innermost service does, and what a
    /// client without layers runs directly. One timer covers routing, connecting, retries,
    /// sending and waiting.
    pub(super) async fn call(
        &self,
        target: &Target,
        msg: &RpcMsg,
        timeout: Duration,
    ) -> Result<Resp, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let first = self.pick(target, msg)?;
        match tokio::time::timeout_at(deadline, self.run(first.clone(), msg, deadline)).await {
            Ok(r) => r,
            Err(_) => {
                Err(ClientError::Timeout { server: first, ms: timeout.as_millis(), route: msg.route() })
            }
        }
    }

    fn pick(&self, target: &Target, msg: &RpcMsg) -> Result<String, ClientError> {
        match target {
            Target::Server(id) => Ok(id.clone()),
            Target::Routed(param) => {
                let servers = self.servers_of(&msg.server_type);
                let ctx = RouteContext {
                    server_type: &msg.server_type,
                    servers: &servers,
                    route_param: param.as_ref(),
                    msg,
                };
                Ok(self.router.pick(&ctx)?)
            }
        }
    }

    /// One attempt on one server, with least-active accounting.
    async fn attempt(&self, id: &str, msg: &RpcMsg) -> Result<Resp, ClientError> {
        let station = self.station(id).ok_or_else(|| ClientError::UnknownServer(id.to_string()))?;
        self.router.started(id);
        let _done = Finished(&self.router, id);
        let mailbox = station.mailbox(&self.opts.mailbox, self.opts.pending_size, self.opts.backoff).await?;
        mailbox.send_and_wait(msg).await
    }

    async fn run(
        &self,
        first: String,
        msg: &RpcMsg,
        deadline: tokio::time::Instant,
    ) -> Result<Resp, ClientError> {
        match self.opts.fail_mode {
            FailMode::Failfast => self.attempt(&first, msg).await,
            FailMode::Failover => self.failover(msg, first).await,
            FailMode::Failback => self.failback(msg, first, deadline).await,
            FailMode::Failsafe => self.failsafe(msg, first).await,
        }
    }

    /// The next server of the type (table order) when the request was not delivered.
    async fn failover(&self, msg: &RpcMsg, first: String) -> Result<Resp, ClientError> {
        let mut tried = vec![first.clone()];
        let mut result = self.attempt(&first, msg).await;
        loop {
            match &result {
                Err(e) if e.not_delivered() => {}
                _ => return result,
            }
            let next =
                self.servers_of(&msg.server_type).into_iter().map(|s| s.id).find(|id| !tried.contains(id));
            let Some(next) = next else {
                let last = Box::new(result.expect_err("loop continues only on errors"));
                return Err(ClientError::AllFailed { server_type: msg.server_type.to_string(), last });
            };
            tracing::debug!(from = %tried.last().unwrap_or(&first), to = %next, "failover");
            tried.push(next.clone());
            result = self.attempt(&next, msg).await;
        }
    }

    /// The same server again once it may be reconnected, when the request was not delivered.
    async fn failback(
        &self,
        msg: &RpcMsg,
        first: String,
        deadline: tokio::time::Instant,
    ) -> Result<Resp, ClientError> {
        let mut result = self.attempt(&first, msg).await;
        for _ in 0..self.opts.retries {
            match &result {
                Err(e)
                    if e.not_delivered()
                        && !matches!(e, ClientError::Removed(_) | ClientError::UnknownServer(_)) => {}
                _ => return result,
            }
            let wait_until = match self.station(&first) {
                Some(s) => s.retry_at().await,
                None => return result,
            };
            if let Some(at) = wait_until {
                tokio::time::sleep_until(at.min(deadline)).await;
            }
            result = self.attempt(&first, msg).await;
        }
        result
    }

    /// Any failure that is not a reply is retried, `retry_delay` × attempt apart.
    async fn failsafe(&self, msg: &RpcMsg, first: String) -> Result<Resp, ClientError> {
        let mut result = self.attempt(&first, msg).await;
        for attempt in 1..=self.opts.retries {
            match &result {
                Err(ClientError::Removed(_) | ClientError::UnknownServer(_) | ClientError::Route(_))
                | Ok(_) => {
                    return result;
                }
                Err(_) => {}
            }
            tokio::time::sleep(self.opts.retry_delay * attempt).await;
            result = self.attempt(&first, msg).await;
        }
        result
    }
}

/// Tells the router a call finished, exactly once, however the call ends.
struct Finished<'a>(&'a Router, &'a str);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.finished(self.1);
    }
}
