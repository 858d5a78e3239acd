// Douyin's `tt` (docs/platforms/douyin.md; TT-T = @douyin-microapp/typings 1.3.1): WeChat's
// argument shapes and errMsg, the number in `errNo`; Sync failures throw. Paths are ttfile://user
// and ttfile://temp; saveFile without filePath saves into the user dir (the library does that).
// Only the documented methods: no fd family beyond open/openSync/write, no batch storage.
'use strict';

var derive = require('./derive');

module.exports = derive({
  name: 'tt',
  fileSystemManager: [
    'access', 'appendFile', 'copyFile', 'getFileInfo', 'getSavedFileList', 'mkdir', 'readFile', 'readdir',
    'removeSavedFile', 'rename', 'rmdir', 'saveFile', 'stat', 'truncate', 'unlink', 'unzip', 'writeFile', 'open',
  ],
  fsmOverrides: {
    // truncateSync(filePath, length) is positional in TT-T (WeChat's takes the option object).
    truncate: { sync: ['filePath', 'length'], params: ['filePath', 'length'], returns: null },
    // write exists as async only (mini-games, base lib 3.74.0).
    write: { sync: null, params: ['fd', 'data', 'offset', 'length', 'encoding', 'position'] },
  },
  globals: ['setStorage', 'getStorage', 'removeStorage', 'clearStorage', 'getStorageInfo'],
  userDataPath: 'ttfile://user',
  syncError: function (res, realm) {
    var e = new (realm ? realm.Error : Error)(res.errMsg);
    e.errMsg = res.errMsg;
    if (res.errNo !== undefined) e.errNo = res.errNo;
    return e;
  },
});
