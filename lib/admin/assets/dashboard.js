// The dashboard: reads api/overview every few seconds, draws the hourly chart (uPlot) and the tables, and switches flags.
(function () {
  'use strict';

  var REFRESH_MS = 5000;
  var chart;
  var chartBox = document.getElementById('chart');

  function usd(value) {
    var digits = value >= 1 || value === 0 ? 2 : value >= 0.01 ? 4 : 6;
    return '$' + value.toFixed(digits);
  }

  function text(tag, content, className) {
    var el = document.createElement(tag);
    el.textContent = content;
    if (className) el.className = className;
    return el;
  }

  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (cell) {
      tr.appendChild(text('td', cell[0], cell[1]));
    });
    return tr;
  }

  function fill(tbody, rows, emptyText, columns) {
    tbody.replaceChildren();
    if (rows.length === 0) {
      var td = text('td', emptyText, 'empty');
      td.colSpan = columns;
      var tr = document.createElement('tr');
      tr.appendChild(td);
      tbody.appendChild(tr);
      return;
    }
    rows.forEach(function (r) {
      tbody.appendChild(r);
    });
  }

  function setStatus(message) {
    document.getElementById('status').textContent = message;
  }

  /** The hourly limits drawn as lines: thresholds of meters, and caps. */
  function limitLines(meters) {
    var lines = [];
    meters.forEach(function (meter) {
      var scope = meter.per === 'feature' ? ' (each feature)' : '';
      meter.hourlyAlertUsd.forEach(function (amount) {
        lines.push({ label: 'alert ' + usd(amount) + scope, value: amount, stroke: '#c77700', dash: [6, 4] });
      });
      if (meter.hourlyCapUsd !== null)
        lines.push({ label: 'cap ' + usd(meter.hourlyCapUsd) + scope, value: meter.hourlyCapUsd, stroke: '#c62828', dash: [] });
    });
    return lines;
  }

  function drawChart(points, meters) {
    var xs = points.map(function (p) {
      return Date.parse(p.hour) / 1000;
    });
    var spend = points.map(function (p) {
      return p.usd;
    });
    var lines = limitLines(meters);
    var top = Math.max.apply(null, spend.concat([0]));
    var firstLimit = lines.length
      ? Math.min.apply(
          null,
          lines.map(function (l) {
            return l.value;
          }),
        )
      : 0;
    var yMax = Math.max(top * 1.25, firstLimit * 1.1, 0.000001);
    var series = [
      {},
      {
        label: 'spend',
        stroke: '#2f6fde',
        fill: 'rgba(47,111,222,0.25)',
        paths: uPlot.paths.bars({ size: [0.7, 40] }),
        points: { show: false },
        value: function (_u, v) {
          return v == null ? '–' : usd(v);
        },
      },
    ];
    var data = [xs, spend];
    lines.forEach(function (line) {
      series.push({ label: line.label, stroke: line.stroke, dash: line.dash, width: 1.5, points: { show: false } });
      data.push(
        xs.map(function () {
          return line.value;
        }),
      );
    });
    var opts = {
      width: Math.max(240, chartBox.clientWidth),
      height: 240,
      series: series,
      scales: { x: { time: true }, y: { range: [0, yMax] } },
      axes: [
        {},
        {
          size: 72,
          values: function (_u, ticks) {
            return ticks.map(function (v) {
              return '$' + Number(v.toPrecision(3));
            });
          },
        },
      ],
      legend: { show: true },
    };
    if (chart) chart.destroy();
    chart = new uPlot(opts, data, chartBox);
    document.getElementById('limits').textContent = lines.length
      ? ''
      : 'No cost meter with hourly alerts or caps: add budget.costMeter({ hourlyAlertUsd, hourlyCapUsd }) to draw them.';
  }

  function render(o) {
    document.getElementById('spend-hour').textContent = usd(o.spend.hour.totalUsd);
    document.getElementById('spend-day').textContent = usd(o.spend.day.totalUsd);
    var tokens = o.spend.tokensToday.reduce(function (sum, f) {
      return sum + f.tokens;
    }, 0);
    document.getElementById('tokens-day').textContent = tokens.toLocaleString('en-US');

    drawChart(o.hourly.points, o.meters);
    fill(
      document.querySelector('#hourly tbody'),
      o.hourly.points.map(function (p) {
        return row([[p.hour], [String(p.usd)]]);
      }),
      '',
      2,
    );

    var features = {};
    function feature(name) {
      return (features[name] = features[name] || { hour: 0, day: 0, tokens: 0 });
    }
    o.spend.hour.byFeature.forEach(function (f) {
      feature(f.feature).hour = f.usd;
    });
    o.spend.day.byFeature.forEach(function (f) {
      feature(f.feature).day = f.usd;
    });
    o.spend.tokensToday.forEach(function (f) {
      feature(f.feature).tokens = f.tokens;
    });
    fill(
      document.querySelector('#features tbody'),
      Object.keys(features)
        .sort()
        .map(function (name) {
          var f = features[name];
          return row([[name], [usd(f.hour), 'num'], [usd(f.day), 'num'], [f.tokens.toLocaleString('en-US'), 'num']]);
        }),
      'No spend yet today.',
      4,
    );

    fill(
      document.querySelector('#principals tbody'),
      o.top.principals.map(function (p) {
        return row([[p.quota], [p.id], [p.tokens.toLocaleString('en-US'), 'num']]);
      }),
      'No quota has been used today.',
      3,
    );

    var flags = document.getElementById('flags');
    flags.replaceChildren();
    o.flags.flags.forEach(function (flag) {
      var li = document.createElement('li');
      var label = document.createElement('label');
      label.appendChild(text('span', flag.name + (flag.set ? '' : ' (never set)')));
      var input = document.createElement('input');
      input.type = 'checkbox';
      input.setAttribute('role', 'switch');
      input.dataset.flag = flag.name;
      input.checked = flag.on;
      input.setAttribute('aria-label', flag.name + ' on');
      input.addEventListener('change', function () {
        switchFlag(input);
      });
      label.appendChild(input);
      li.appendChild(label);
      flags.appendChild(li);
    });

    var alerts = document.getElementById('alerts');
    alerts.replaceChildren();
    if (o.alerts.alerts.length === 0) alerts.appendChild(text('li', 'No alert today.', 'empty'));
    o.alerts.alerts.forEach(function (a) {
      var li = document.createElement('li');
      var what = a.kind === 'spike' ? 'Spike' : 'Threshold ' + usd(a.thresholdUsd);
      li.appendChild(text('strong', what + ' · ' + a.window + (a.feature ? ' · ' + a.feature : '')));
      li.appendChild(text('span', ' ' + usd(a.spentUsd) + ' spent (meter ' + a.meter + ')'));
      li.appendChild(text('span', new Date(a.at).toLocaleString(), 'when'));
      alerts.appendChild(li);
    });
    setStatus('Updated ' + new Date().toLocaleTimeString());
    document.body.dataset.loaded = 'true';
  }

  function load() {
    return fetch('api/overview', { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (res) {
        if (res.status === 401 || res.status === 403) throw new Error('Not authorized.');
        if (!res.ok) throw new Error('The admin API answered ' + res.status + '.');
        return res.json();
      })
      .then(render)
      .catch(function (err) {
        setStatus(err.message);
      });
  }

  function switchFlag(input) {
    var on = input.checked;
    input.disabled = true;
    fetch('api/flags/' + encodeURIComponent(input.dataset.flag), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ on: on }),
    })
      .then(function (res) {
        if (!res.ok) throw new Error('Switching ' + input.dataset.flag + ' failed (' + res.status + ').');
        return load();
      })
      .catch(function (err) {
        input.checked = !on;
        setStatus(err.message);
      })
      .finally(function () {
        input.disabled = false;
      });
  }

  var resizing;
  window.addEventListener('resize', function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      if (chart) chart.setSize({ width: Math.max(240, chartBox.clientWidth), height: 240 });
    }, 100);
  });
  load();
  setInterval(load, REFRESH_MS);
})();
