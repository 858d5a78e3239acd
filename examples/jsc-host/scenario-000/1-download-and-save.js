// Seed scenario 000, the image cache, first run: download an image (the host's downloadFile puts
// the bytes of image.jpg, in the working directory, in a temp file), save it, and remember where.
// Run with examples/jsc-host's host, then "restart" and run 2-after-restart.js.
var fs = wx.getFileSystemManager();
wx.downloadFile({
  url: 'image.jpg',
  success: function (res) {
    console.log('downloaded', /^wxfile:\/\/tmp_/.test(res.tempFilePath), res.statusCode);
    fs.saveFile({
      tempFilePath: res.tempFilePath,
      success: function (saved) {
        wx.setStorageSync('image_cache', saved.savedFilePath);
        console.log('saved', saved.savedFilePath);
      },
      fail: function (e) {
        console.log('saveFile failed', e.errMsg);
      },
    });
  },
  fail: function (e) {
    console.log('downloadFile failed', e.errMsg);
  },
});
