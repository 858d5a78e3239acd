// wxfs for any JavaScript engine: `createWx(host)` gives the `wx` subset mini-program code calls
// (getFileSystemManager, the storage apis, the legacy file apis, env.USER_DATA_PATH, canIUse)
// over the native invoke a host hands in. See README.md beside this file.
'use strict';

var core = require('./core');
var codec = require('./codec');
var wechat = require('./dialects/wechat');

module.exports = {
  createWx: function (host) {
    return core.createApi(host, wechat);
  },
  createApi: core.createApi,
  dialects: { wechat: wechat },
  Stats: core.Stats,
  codec: codec,
};
