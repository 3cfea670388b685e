'use strict';
// pinus-rpc 1.7.4 promise-style remote (see timeRemote.js).

class EchoRemote {
  constructor(app) {
    this.app = app;
  }

  // echo(...args) -> first argument   (wire: [null, args[0]]; echo() -> [null,null])
  async echo(...args) {
    return args[0];
  }

  // fail(message) -> rejects   (wire: [{...err, stack}] = [{"stack":"Error: <message>\n..."}])
  async fail(message) {
    throw new Error(message);
  }

  // sleep(ms) -> ms after ms milliseconds
  sleep(ms) {
    return new Promise((resolve) => setTimeout(() => resolve(ms), ms));
  }

  // whoami() -> this server's id: which server a routed call reached
  async whoami() {
    return this.app && this.app.serverId;
  }

  // never() -> a promise that never settles (no reply is ever sent)
  never() {
    return new Promise(() => {});
  }
}

exports.default = function(app) {
  return new EchoRemote(app);
};
