// Delivered/failed per minute bar charts on <canvas>, with no library and no CDN.
// Data: GET #chart-data[data-url] -> [{ pipelineId, from, minutes, delivered: [], failed: [] }, ...]
(function () {
    'use strict';

    var holder = document.getElementById('chart-data');
    if (!holder) { return; }
    var url = holder.getAttribute('data-url');
    var colors = { delivered: '#2f9e44', failed: '#e03131', axis: '#868e96', grid: '#e9ecef', text: '#495057' };

    function draw(canvas, series) {
        // Match the drawing buffer to the displayed size so bars stay sharp on any screen.
        var ratio = window.devicePixelRatio || 1;
        var width = canvas.clientWidth || 600;
        var height = canvas.clientHeight || 160;
        canvas.width = Math.round(width * ratio);
        canvas.height = Math.round(height * ratio);
        var ctx = canvas.getContext('2d');
        ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
        ctx.clearRect(0, 0, width, height);

        var left = 36, right = 6, top = 8, bottom = 20;
        var plotW = width - left - right, plotH = height - top - bottom;
        var n = series.minutes;
        var max = 1;
        for (var i = 0; i < n; i++) {
            max = Math.max(max, series.delivered[i] + series.failed[i]);
        }

        ctx.font = '11px system-ui, sans-serif';
        ctx.fillStyle = colors.text;
        ctx.strokeStyle = colors.grid;
        ctx.lineWidth = 1;
        [0, 0.5, 1].forEach(function (f) {
            var y = top + plotH - f * plotH;
            ctx.beginPath(); ctx.moveTo(left, y + 0.5); ctx.lineTo(left + plotW, y + 0.5); ctx.stroke();
            ctx.textAlign = 'right';
            ctx.fillText(String(Math.round(max * f)), left - 4, y + 4);
        });

        // One column per minute; stacked delivered (bottom) and failed (top).
        var step = plotW / n;
        var barW = Math.max(step, 2);
        for (var m = 0; m < n; m++) {
            var d = series.delivered[m], f = series.failed[m];
            if (!d && !f) { continue; }
            var x = left + m * step;
            var hd = d / max * plotH, hf = f / max * plotH;
            ctx.fillStyle = colors.delivered;
            ctx.fillRect(x, top + plotH - hd, barW, hd);
            ctx.fillStyle = colors.failed;
            ctx.fillRect(x, top + plotH - hd - hf, barW, hf);
        }

        // Hour labels every 4 hours (UTC).
        var from = new Date(series.from);
        ctx.fillStyle = colors.text;
        ctx.textAlign = 'center';
        for (var k = 0; k < n; k++) {
            var t = new Date(from.getTime() + k * 60000);
            if (t.getUTCMinutes() === 0 && t.getUTCHours() % 4 === 0) {
                ctx.fillText(String(t.getUTCHours()).padStart(2, '0') + ':00', left + k * step, height - 5);
            }
        }
        canvas.setAttribute('data-drawn', String(series.delivered.reduce(sum, 0)) + '/' + String(series.failed.reduce(sum, 0)));
    }

    function sum(a, b) { return a + b; }

    var last = [];
    function render() {
        last.forEach(function (series) {
            var canvas = document.querySelector('canvas.chart[data-pipeline="' + series.pipelineId + '"]');
            if (canvas) { draw(canvas, series); }
        });
    }

    function load() {
        fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
            .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
            .then(function (data) { last = data; render(); })
            .catch(function () { /* keep the last drawing; the next refresh tries again */ });
    }

    load();
    setInterval(load, 30000);
    window.addEventListener('resize', render);
})();
