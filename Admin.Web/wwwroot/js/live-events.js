// Refreshes the live events table every 3 s from the page's Rows handler (JSON), using textContent only.
(function () {
    'use strict';

    var table = document.getElementById('live-events');
    if (!table) { return; }
    var url = table.getAttribute('data-url');
    var status = document.getElementById('live-status');
    var columns = ['receivedAt', 'eventType', 'source', 'sessionId', 'productId', 'where', 'device', 'eventId'];

    function cell(row, column) {
        var td = document.createElement('td');
        var value = row[column];
        if (column === 'receivedAt') {
            var time = document.createElement('time');
            time.textContent = new Date(value).toISOString().substring(11, 19);
            td.appendChild(time);
        } else if (column === 'eventType') {
            var code = document.createElement('code');
            code.textContent = value;
            td.appendChild(code);
        } else {
            td.textContent = value == null ? '' : String(value);
            if (column === 'eventId') { td.className = 'muted small'; }
        }
        return td;
    }

    function refresh() {
        fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
            .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
            .then(function (rows) {
                var body = document.createElement('tbody');
                rows.forEach(function (row) {
                    var tr = document.createElement('tr');
                    columns.forEach(function (column) { tr.appendChild(cell(row, column)); });
                    body.appendChild(tr);
                });
                table.replaceChild(body, table.tBodies[0]);
                var empty = document.getElementById('live-empty');
                if (empty && rows.length > 0) { empty.remove(); }
                if (status) { status.textContent = 'updated ' + new Date().toISOString().substring(11, 19) + ' UTC'; }
            })
            .catch(function () {
                if (status) { status.textContent = 'refresh failed, retrying'; }
            });
    }

    setInterval(refresh, 3000);
})();
