/*
 * main.js - start-up: sign in again with the tab's key if there is one,
 * then follow the hash.
 */
'use strict';

(function () {
  document.getElementById('signout').addEventListener('click', function () {
    GB.signOut();
  });
  window.addEventListener('hashchange', GB.route);
  if (GB.key())
    GB.signIn(GB.key()).then(GB.route, function (e) {
      GB.flash(e.message || String(e), 'error');
      GB.route();
    });
  else
    GB.route();
})();
