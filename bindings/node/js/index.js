// In the checkout, bindings/node/js stands for bindings/js. The npm package built by
// packaging/release.sh ships bindings/js itself in this directory, so the package reaches it as
// `./js` and never as `../js`, which outside the checkout could be any package named `js`.
'use strict';

module.exports = require('../../js');
