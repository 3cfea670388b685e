// Custom route for server type `time`: app.route('time', timeRoute).
//
// pomelo calls it as fn(routeParam, msg, app, cb(err, serverId)) for every call to a `time`
// server made by this process:
//   - user RPC  app.rpc.time.<service>.<method>(session, ...): routeParam is that session,
//     msg = {namespace:'user', serverType:'time', service, method, args};
//   - forwarded client requests (route `time.*.*`): routeParam is the FrontendSession,
//     msg = {namespace:'sys', serverType:'time', service:'msgRemote', method:'forwardMessage',
//            args:[clientMsg, sessionExport]} (spec cluster.md §4.2).
// Both carry the session, so both are routed the same way: by uid.
//
// Rule: take the `time` servers this process currently knows, sorted by id (so every process
// agrees whatever order it learned them in), and pick
//     index = (sum of the UTF-16 code units of the uid) % count
// An unbound session (no uid) uses '' → index 0. When a server dies the master broadcasts
// removeServer, the list shrinks and the same rule picks among the survivors.
//
// With both servers up:  uid "alice" (sum 510) → time-server-1,  uid "bob" (sum 307) → time-server-2.
// With only one left, every uid goes to it.

function keyOf(routeParam) {
  if (routeParam === null || routeParam === undefined) {
    return '';
  }
  if (typeof routeParam === 'string' || typeof routeParam === 'number') {
    return String(routeParam);
  }
  var uid = routeParam.uid;
  return uid === null || uid === undefined ? '' : String(uid);
}

function codeSum(s) {
  var sum = 0;
  for (var i = 0; i < s.length; i++) {
    sum += s.charCodeAt(i);
  }
  return sum;
}

function timeRoute(routeParam, msg, app, cb) {
  var servers = (app.getServersByType('time') || []).slice();
  if (servers.length === 0) {
    cb(new Error('no time server is registered'));
    return;
  }
  servers.sort(function(a, b) {
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  var index = codeSum(keyOf(routeParam)) % servers.length;
  cb(null, servers[index].id);
}

timeRoute.pick = function(uid, ids) {
  var sorted = ids.slice().sort();
  return sorted[codeSum(uid === null || uid === undefined ? '' : String(uid)) % sorted.length];
};

module.exports = timeRoute;
