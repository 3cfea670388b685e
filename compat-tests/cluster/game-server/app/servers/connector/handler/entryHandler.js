// connector.entryHandler.*: the Node frontend's own handlers. Requests for `time.*.*` never come
// here: the connector forwards them to a time server with sys.msgRemote.forwardMessage.
// The pomelo 1.2.3 project (compat-tests/cluster-1x) uses this file too: same handler API.
module.exports = function(app) {
  return new Handler(app);
};

var Handler = function(app) {
  this.app = app;
};

// app.rpc.time exists only once this connector knows at least one `time` server.
function timeRpc(app, next) {
  if (!app.rpc || !app.rpc.time) {
    next(null, {code: 500, error: 'no time server is known to this connector'});
    return null;
  }
  return app.rpc.time;
}

function errText(err) {
  if (!err) {
    return null;
  }
  return err.stack || err.message || JSON.stringify(err);
}

/**
 * Chat-style login: {uid} → binds the session to uid.
 */
Handler.prototype.entry = function(msg, session, next) {
  var self = this;
  var uid = msg.uid;
  if (uid === undefined || uid === null || uid === '') {
    next(null, {code: 500, error: 'uid is required'});
    return;
  }
  if (session.uid) {
    next(null, {code: 200, uid: session.uid, sid: session.id, frontendId: self.app.getServerId(),
                alreadyBound: true});
    return;
  }
  session.bind(uid, function(err) {
    if (err) {
      next(null, {code: 500, error: errText(err)});
      return;
    }
    next(null, {code: 200, uid: uid, sid: session.id, frontendId: self.app.getServerId()});
  });
};

/**
 * The pomelo RPC tutorial's call: the remote answers cb(hour, min, sec), with no error slot.
 * Routed by app.route('time') on the session's uid.
 */
Handler.prototype.timeViaRpc = function(msg, session, next) {
  var rpc = timeRpc(this.app, next);
  if (!rpc) {
    return;
  }
  rpc.timeRemote.getCurrentTime(session, 1, 2, function(hour, min, sec) {
    // On an RPC failure (timeout, no server) pomelo calls back with the error first.
    if (hour !== null && typeof hour === 'object') {
      next(null, {code: 500, error: errText(hour)});
      return;
    }
    next(null, {code: 200, hms: [hour, min, sec]});
  });
};

/**
 * echoRemote.whoami → the id of the time server the route picked for this session.
 */
Handler.prototype.whoViaRpc = function(msg, session, next) {
  var rpc = timeRpc(this.app, next);
  if (!rpc) {
    return;
  }
  rpc.echoRemote.whoami(session, function(err, server) {
    if (err) {
      next(null, {code: 500, error: errText(err)});
      return;
    }
    next(null, {code: 200, server: server, uid: session.uid});
  });
};

/**
 * What the connector's own session looks like (uid and settings), e.g. after a Rust handler
 * bound it through sys.sessionRemote.bind and set `lastTimeServer` through sessionRemote.push.
 */
Handler.prototype.myUid = function(msg, session, next) {
  next(null, {
    code: 200,
    uid: session.uid === undefined ? null : session.uid,
    sid: session.id,
    lastTimeServer: session.get('lastTimeServer') === undefined ? null : session.get('lastTimeServer')
  });
};

/** The `time` servers this connector knows, in arrival order (what its routing sees). */
Handler.prototype.timeServers = function(msg, session, next) {
  var list = this.app.getServersByType('time') || [];
  next(null, {code: 200, servers: list.map(function(s) { return s.id; })});
};
