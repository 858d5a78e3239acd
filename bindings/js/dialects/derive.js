// Build another platform's dialect from WeChat's table: the same rows (each platform's api is a
// copy of WeChat's, docs/platforms/), keeping the names the platform has, with its overrides.
'use strict';

var wechat = require('./wechat');

function pickRows(table, names, overrides) {
  var out = {};
  names.forEach(function (name) {
    var row = (overrides && overrides[name]) || table[name];
    if (!row) throw new Error('wxfs: no row for ' + name);
    out[name] = row;
  });
  Object.keys(overrides || {}).forEach(function (name) {
    if (!out[name]) out[name] = overrides[name];
  });
  return out;
}

/**
 * spec: { name, fileSystemManager: [names], fsmOverrides, globals: [names], globalOverrides,
 *         userDataPath, ...any other dialect field (isOk, syncError, failure, syncFailure, syncTakesObject, promise) }
 */
function derive(spec) {
  var d = {};
  Object.keys(wechat).forEach(function (k) {
    d[k] = wechat[k];
  });
  Object.keys(spec).forEach(function (k) {
    d[k] = spec[k];
  });
  d.fileSystemManager = pickRows(wechat.fileSystemManager, spec.fileSystemManager, spec.fsmOverrides);
  d.globals = pickRows(wechat.globals, spec.globals, spec.globalOverrides);
  var path = spec.userDataPath;
  d.userDataPath = function () {
    return path;
  };
  delete d.fsmOverrides;
  delete d.globalOverrides;
  return d;
}

module.exports = derive;
