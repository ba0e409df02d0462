// Small behaviours of the admin pages. No inline scripts: the CSP forbids them.
(function () {
    'use strict';

    // Copy buttons: <button data-copy="#id"> copies the text of the element #id.
    document.addEventListener('click', function (event) {
        var button = event.target.closest('[data-copy]');
        if (!button) { return; }
        var source = document.querySelector(button.getAttribute('data-copy'));
        if (!source) { return; }
        var text = source.textContent;
        var done = function () {
            var label = button.textContent;
            button.textContent = 'Copied';
            setTimeout(function () { button.textContent = label; }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
        } else {
            selectText(source);
        }
    });

    function selectText(element) {
        var range = document.createRange();
        range.selectNodeContents(element);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
    }

    // Forms with data-confirm ask before destructive actions (revoke, rotate).
    document.addEventListener('submit', function (event) {
        var form = event.target;
        var message = form.getAttribute && form.getAttribute('data-confirm');
        if (message && !window.confirm(message)) {
            event.preventDefault();
        }
    });

    // "Select all" checkbox of the dead-letter list.
    var all = document.getElementById('select-all');
    if (all) {
        all.addEventListener('change', function () {
            document.querySelectorAll('input[name="ids"][type="checkbox"]').forEach(function (box) {
                box.checked = all.checked;
            });
        });
    }
})();
