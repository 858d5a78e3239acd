// Baidu's `swan` (docs/platforms/baidu.md; SWAN-D = swan-team/swan-docs): WeChat's argument
// shapes and {errMsg, errCode}; bdfile://usr, bdfile://tmp/, bdfile://store/ paths. From base lib
// 3.140.1 a failing Sync call RETURNS a standard Error (instanceof Error) instead of throwing
// (SWAN-D api/storage/save_swan-setStorageSync.md, Bug & Tip); this layer does the same.
'use strict';

var derive = require('./derive');

module.exports = derive({
  name: 'swan',
  fileSystemManager: [
    'access', 'appendFile', 'copyFile', 'getFileInfo', 'getSavedFileList', 'mkdir', 'readFile', 'readdir',
    'removeSavedFile', 'rename', 'rmdir', 'saveFile', 'stat', 'unlink', 'unzip', 'writeFile',
  ],
  globals: ['setStorage', 'getStorage', 'removeStorage', 'clearStorage', 'getStorageInfo'],
  userDataPath: 'bdfile://usr',
  syncFailure: function () {
    return 'error';
  },
});
