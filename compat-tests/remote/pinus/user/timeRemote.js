'use strict';
// pinus-rpc 1.7.4 promise-style remote, loaded by pinus-loader through the
// server's `paths` option (`exports.default = app => instance`; the service name
// is the file name). The pinus dispatcher calls methods WITHOUT a callback and
// replies [null, <resolved value>] or [<rejection>], so only one value can be returned.

class TimeRemote {
  constructor(app) {
    this.app = app;
  }

  // getCurrentTime(arg1, arg2) -> [hour, min, sec]   (wire: [null,[h,m,s]])
  async getCurrentTime(arg1, arg2) {
    const d = new Date();
    return [d.getHours(), d.getMinutes(), d.getSeconds()];
  }
}

exports.default = function(app) {
  return new TimeRemote(app);
};
