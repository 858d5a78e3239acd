// wxfs for any JavaScript engine: `createWx(host)` gives the `wx` subset mini-program code calls
// (getFileSystemManager, the storage apis, the legacy file apis, env.USER_DATA_PATH, canIUse)
// over the native invoke a host hands in; `createMy`, `createTt`, `createSwan`, `createQq` give
// Alipay's, Douyin's, Baidu's and QQ's from the same core (the sandbox must be opened with the
// matching config `platform`). See README.md beside this file.
'use strict';

var core = require('./core');
var codec = require('./codec');
var dialects = {
  wechat: require('./dialects/wechat'),
  alipay: require('./dialects/alipay'),
  douyin: require('./dialects/douyin'),
  baidu: require('./dialects/baidu'),
  qq: require('./dialects/qq'),
};

function creator(platform) {
  return function (host) {
    return core.createApi(host, dialects[platform]);
  };
}

module.exports = {
  createWx: creator('wechat'),
  createMy: creator('alipay'),
  createTt: creator('douyin'),
  createSwan: creator('baidu'),
  createQq: creator('qq'),
  /** The object of config `platform` (default 'wechat'). */
  createFor: function (platform, host) {
    var d = dialects[platform || 'wechat'];
    if (!d) throw new TypeError('wxfs: unknown platform ' + JSON.stringify(platform));
    return core.createApi(host, d);
  },
  createApi: core.createApi,
  dialects: dialects,
  Stats: core.Stats,
  codec: codec,
};
