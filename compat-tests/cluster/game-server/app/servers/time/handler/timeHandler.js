// time.timeHandler.*: the Node implementation of the client handlers the Rust time server offers
// (src/cluster/demo.rs), the same steps in the same order, so that a fixture recorded from a Node
// time server replays against the Rust one (tests/compat_replay.rs). It runs only when the
// launcher leaves a time server in Node (POMELO_INTEROP_NODE_IDS); by default the Rust binary
// serves these routes. One difference is pomelo's, not this file's: its Channel.add appends a uid
// again on every add, so a member added twice gets each push twice (Rust keeps a set).
module.exports = function(app) {
  return new Handler(app);
};

var Handler = function(app) {
  this.app = app;
};

/**
 * {uid?} → binds an unbound session to uid, adds it to channel `clock` and pushes `onTime`
 * there, sets and pushes the session setting `lastTimeServer`, answers the time.
 */
Handler.prototype.now = function(msg, session, next) {
  var app = this.app;
  var me = app.getServerId();
  var bind = function(cb) {
    if (!session.uid && msg.uid !== undefined && msg.uid !== null) {
      session.bind(msg.uid, cb);
    } else {
      cb(null);
    }
  };
  bind(function(err) {
    if (err) {
      next(err);
      return;
    }
    var d = new Date();
    var hour = d.getHours(), min = d.getMinutes(), sec = d.getSeconds();
    var answer = function(err) {
      if (err) {
        next(err);
        return;
      }
      session.set('lastTimeServer', me);
      session.push('lastTimeServer', function(err) {
        if (err) {
          next(err);
          return;
        }
        next(null, {code: 200, hour: hour, min: min, sec: sec, server: me,
                    uid: session.uid === undefined ? null : session.uid});
      });
    };
    if (!session.uid) {
      answer(null);
      return;
    }
    var channel = app.get('channelService').getChannel('clock', true);
    channel.add(session.uid, session.frontendId);
    channel.pushMessage('onTime', {hour: hour, min: min, sec: sec, server: me}, answer);
  });
};

/** Fails on purpose: the connector answers the client {code: 500}. */
Handler.prototype.fail = function(msg, session, next) {
  next(new Error('timeHandler.fail fails on purpose'));
};

/** Kicks the caller's session (reason `bye`), then answers {code: 200}. */
Handler.prototype.kickMe = function(msg, session, next) {
  this.app.get('backendSessionService').kickBySid(session.frontendId, session.id, 'bye', function(err) {
    if (err) {
      next(err);
      return;
    }
    next(null, {code: 200});
  });
};
