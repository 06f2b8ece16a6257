/* fragilite: the web map. No network: every file is the bundle's own (config.js, data/, fiches/).
 * Data arrives as scripts calling FRAGILITE.couche / .fiches / .recherche (fetch is refused from
 * file://); a national bundle's polygons come as PMTiles read by range requests. */
(function () {
  "use strict";
  var C = window.FRAGILITE_CONFIG;
  var ORDER = ["iris", "communes", "epci", "departements", "regions", "qpv"];
  var REFERENCES = { region: "région", departement: "département", epci: "EPCI", france: "France" };
  var SEARCH_RANK = { communes: 0, departements: 1, regions: 2, epci: 3, iris: 4, qpv: 5 };
  var TILES = C.mode === "tiles";
  var EMPTY = { type: "FeatureCollection", features: [] };
  var LEVELS = {};
  C.levels.forEach(function (lv) { LEVELS[lv.id] = lv; });
  var BACKGROUND = ["departements", "regions"].filter(function (id) { return LEVELS[id]; });

  /* ---------- data scripts ---------- */
  var store = {}, waiting = {};
  var F = window.FRAGILITE = {
    couche: function (level, fc) { deliver("couche:" + level, fc); },
    fiches: function (n, entries) { deliver("fiches:" + n, entries); },
    recherche: function (entries) { deliver("recherche", entries); },
    firstDrawMs: null, map: null, insets: []
  };
  function deliver(key, payload) {
    store[key] = payload;
    if (waiting[key]) waiting[key].resolve(payload);
  }
  function load(key, src) {
    if (store[key]) return Promise.resolve(store[key]);
    if (!waiting[key]) {
      var w = {};
      w.promise = new Promise(function (resolve, reject) { w.resolve = resolve; w.reject = reject; });
      waiting[key] = w;
      var s = document.createElement("script");
      s.src = src;
      s.onerror = function () { w.reject(new Error("fichier absent de la carte : " + src)); };
      document.head.appendChild(s);
    }
    return waiting[key].promise;
  }

  /* ---------- numbers, French ---------- */
  var formats = {};
  function nf(d) {
    if (!formats[d]) formats[d] = new Intl.NumberFormat("fr-FR", { minimumFractionDigits: d, maximumFractionDigits: d });
    return formats[d];
  }
  function num(v, d) { return v === null || v === undefined ? "—" : nf(d === undefined ? 1 : d).format(v); }
  function byUnit(v, unit) {
    if (v === null || v === undefined) return "—";
    if (unit === "share") return nf(1).format(v * 100) + " %";
    if (unit === "euros") return nf(0).format(v) + " €";
    if (unit === "per person") return nf(4).format(v);
    return nf(2).format(v);
  }
  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function fold(s) { return String(s).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase(); }
  function fnv1a(text) {
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    return h >>> 0;
  }

  /* ---------- state ---------- */
  var state = { chosen: "auto", shown: null, indicator: "score_global", selected: null, hover: null };
  var indicatorsById = {};
  C.indicators.forEach(function (ind) { indicatorsById[ind.id] = ind; });
  if (!indicatorsById[state.indicator]) state.indicator = C.indicators[0].id;

  // auto levels: each present level from its own zoom to the next one's (gaps of absent levels closed)
  var autoRanges = C.levels.filter(function (lv) { return lv.auto; })
    .sort(function (a, b) { return a.auto[0] - b.auto[0]; })
    .map(function (lv, i, all) { return { id: lv.id, min: i === 0 ? 0 : lv.auto[0], max: i + 1 < all.length ? all[i + 1].auto[0] : 99 }; });
  function levelAt(zoom) {
    if (state.chosen !== "auto") return state.chosen;
    for (var i = 0; i < autoRanges.length; i++) if (zoom >= autoRanges[i].min && zoom < autoRanges[i].max) return autoRanges[i].id;
    return C.levels[0].id;
  }

  /* ---------- style ---------- */
  function colourExpr(ind) {
    var e = ["match", ["to-number", ["get", ind.classe], 0]];
    for (var k = 1; k <= 5; k++) e.push(k, C.palette.classes[k]);
    e.push(C.palette.sans_classe);
    return e;
  }
  function sourceOf(level) {
    if (TILES) return { type: "vector", url: "pmtiles://" + new URL(LEVELS[level].src, location.href).href };
    return { type: "geojson", data: EMPTY, tolerance: 0.3 };
  }
  function layer(def, level) {
    def.source = "s-" + level;
    if (TILES) def["source-layer"] = level;
    return def;
  }
  function shownIf(level) { return { visibility: level === state.shown ? "visible" : "none" }; }
  function buildStyle(main) {    // drawn at state.shown already: the first frame is the full map
    var sources = {}, layers = [{ id: "mer", type: "background", paint: { "background-color": "#dce6ec" } }];
    C.levels.forEach(function (lv) { sources["s-" + lv.id] = sourceOf(lv.id); });
    var land = BACKGROUND[0] || C.levels[0].id;
    layers.push(layer({ id: "terre", type: "fill", paint: { "fill-color": "#f1efe9" } }, land));
    C.levels.forEach(function (lv) {
      layers.push(layer({ id: "f-" + lv.id, type: "fill", layout: shownIf(lv.id),
        paint: { "fill-color": colourExpr(indicatorsById[state.indicator]), "fill-antialias": true } }, lv.id));
      if (C.fiabilite) layers.push(layer({ id: "h-" + lv.id, type: "fill", layout: shownIf(lv.id),
        filter: [">", ["to-number", ["get", "fiabilite"], 0], 0], paint: { "fill-pattern": "hachures" } }, lv.id));
      layers.push(layer({ id: "l-" + lv.id, type: "line", layout: shownIf(lv.id),
        paint: { "line-color": "#ffffff", "line-opacity": 0.8,
          "line-width": ["interpolate", ["linear"], ["zoom"], 5, 0.15, 9, 0.5, 13, 1.2] } }, lv.id));
    });
    if (LEVELS.departements) layers.push(layer({ id: "contour-departements", type: "line",
      paint: { "line-color": "#6f7480", "line-width": ["interpolate", ["linear"], ["zoom"], 4, 0.4, 10, 1.4] } }, "departements"));
    if (LEVELS.regions) layers.push(layer({ id: "contour-regions", type: "line",
      paint: { "line-color": "#3c414c", "line-width": ["interpolate", ["linear"], ["zoom"], 4, 0.9, 10, 2.4] } }, "regions"));
    if (LEVELS.qpv) layers.push(layer({ id: "contour-qpv", type: "line", minzoom: main ? 8 : 0,
      paint: { "line-color": C.palette.qpv, "line-width": ["interpolate", ["linear"], ["zoom"], 6, 0.8, 12, 2.2] } }, "qpv"));
    C.levels.forEach(function (lv) {
      // hidden unless their level is shown: a source with no visible layer is not read (a
      // national map would otherwise fetch the tiles of every level at every zoom)
      layers.push(layer({ id: "survol-" + lv.id, type: "line", filter: ["==", ["get", "code"], ""], layout: shownIf(lv.id),
        paint: { "line-color": "#1d2433", "line-width": 1.6 } }, lv.id));
      layers.push(layer({ id: "choix-" + lv.id, type: "line", filter: ["==", ["get", "code"], ""], layout: { visibility: "none" },
        paint: { "line-color": "#000000", "line-width": 3.2 } }, lv.id));
    });
    return { version: 8, sources: sources, layers: layers };
  }
  function hatchImage() {
    var size = 8, data = new Uint8Array(size * size * 4);
    for (var y = 0; y < size; y++) for (var x = 0; x < size; x++) {
      if ((x + y) % size === 0 || (x + y) % size === size - 1) {
        var i = (y * size + x) * 4;
        data[i] = 37; data[i + 1] = 37; data[i + 2] = 37; data[i + 3] = 170;
      }
    }
    return { width: size, height: size, data: data };
  }

  /* ---------- maps ---------- */
  if (TILES) {
    var protocol = new pmtiles.Protocol();
    maplibregl.addProtocol("pmtiles", protocol.tile);
  }
  function viewPadding() {      // the mainland beside the insets' column, not under it
    return { top: 24, right: 24, bottom: 24, left: C.insets.length ? 184 : 24 };
  }
  function zoomToFit(bbox, el, pad) {   // what fitBounds will choose (Web Mercator, 512 px tiles)
    function y(lat) { var s = Math.sin(lat * Math.PI / 180); return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI); }
    var dx = (bbox[2] - bbox[0]) / 360, dy = Math.abs(y(bbox[3]) - y(bbox[1]));
    var w = el.clientWidth - pad.left - pad.right, h = el.clientHeight - pad.top - pad.bottom;
    return Math.log2(Math.min(w / (512 * Math.max(dx, 1e-9)), h / (512 * Math.max(dy, 1e-9))));
  }
  state.shown = levelAt(zoomToFit(C.main_bbox, document.getElementById("carte"), viewPadding()));
  var main = new maplibregl.Map({
    container: "carte", style: buildStyle(true), bounds: C.main_bbox, fitBoundsOptions: { padding: viewPadding() },
    minZoom: 2, maxZoom: 16, attributionControl: false, dragRotate: false, pitchWithRotate: false, touchPitch: false
  });
  F.map = main;
  main.touchZoomRotate.disableRotation();
  main.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  main.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  main.addControl(new maplibregl.AttributionControl({ compact: false,
    customAttribution: "Données : INSEE, IGN, ANCT · calcul : fragilite · fond : les contours des données" }), "bottom-right");
  main.on("error", function (e) { console.error("carte :", e.error ? e.error.message : e); });

  var insetMaps = C.insets.map(function (inset) {
    var box = document.createElement("div");
    box.className = "encart";
    box.title = inset.label + " : cliquez une unité pour son détail";
    box.innerHTML = '<div class="titre-encart">' + esc(inset.label) + '</div><div class="vue"></div>';
    document.getElementById("encarts").appendChild(box);
    var m = new maplibregl.Map({ container: box.querySelector(".vue"), style: buildStyle(false), bounds: inset.bbox,
      fitBoundsOptions: { padding: 6 }, interactive: false, attributionControl: false });
    m.on("error", function (e) { console.error("encart " + inset.label + " :", e.error ? e.error.message : e); });
    m.zone = inset.zone;
    box.addEventListener("click", function (ev) {
      var r = box.querySelector(".vue").getBoundingClientRect();
      var hits = m.queryRenderedFeatures([ev.clientX - r.left, ev.clientY - r.top], { layers: ["f-" + state.shown] });
      if (hits.length) openCode(String(hits[0].properties.code), { level: state.shown, fly: false });
    });
    F.insets.push(m);
    return m;
  });
  var allMaps = [main].concat(insetMaps);
  var styled = allMaps.map(function (m) {
    m.on("styleimagemissing", function (e) { if (e.id === "hachures" && !m.hasImage("hachures")) m.addImage("hachures", hatchImage()); });
    return new Promise(function (resolve) { m.on("load", function () { resolve(m); }); });
  });

  /* ---------- inline data: loaded as scripts, handed to every map ---------- */
  function ensureLevel(level) {
    if (TILES) return Promise.resolve();
    return load("couche:" + level, LEVELS[level].src).then(function (fc) {
      return Promise.all(styled).then(function () {
        allMaps.forEach(function (m) {
          var src = m.getSource("s-" + level);
          if (src._fragiliteSet) return;
          src._fragiliteSet = true;
          src.setData(m === main ? fc : { type: "FeatureCollection",
            features: fc.features.filter(function (f) { return f.properties.zone === m.zone; }) });
        });
      });
    });
  }

  /* ---------- level and indicator ---------- */
  function setVisible(m, level) {
    C.levels.forEach(function (lv) {
      var v = lv.id === level ? "visible" : "none";
      ["f-", "h-", "l-", "survol-"].forEach(function (p) {
        if (m.getLayer(p + lv.id)) m.setLayoutProperty(p + lv.id, "visibility", p === "h-" && !hatchOn() ? "none" : v);
      });
    });
  }
  function hatchOn() { return C.fiabilite && document.getElementById("voir-fiabilite").checked; }
  function refreshLevel(first) {
    var level = levelAt(main.getZoom());
    var changed = level !== state.shown;
    state.shown = level;
    var info = document.getElementById("niveau-info");
    var tiles = LEVELS[level].tiles;
    if (TILES && main.getZoom() < tiles[0]) info.textContent = "Zoomez pour afficher les " + LEVELS[level].label.toLowerCase() + ".";
    else info.textContent = state.chosen === "auto" ? "Affiché : " + LEVELS[level].label + " (selon le zoom)" : "";
    if (!changed && first !== true) return Promise.resolve();
    // (a style change, even to the same value, costs a frame: the first level is in the style)
    if (changed) allMaps.forEach(function (m) { setVisible(m, level); });
    renderLegend();
    return ensureLevel(level);
  }
  function setIndicator(id) {
    state.indicator = id;
    var expr = colourExpr(indicatorsById[id]);
    allMaps.forEach(function (m) {
      C.levels.forEach(function (lv) { m.setPaintProperty("f-" + lv.id, "fill-color", expr); });
    });
    renderLegend();
  }

  /* ---------- legend ---------- */
  function renderLegend() {
    var ind = indicatorsById[state.indicator], level = state.shown;
    var lg = (C.legends[level] || {})[ind.id] || { classes: [], sans_classe: 0 };
    var scale = ind.kind !== "score" ? "pour 1 000 actifs occupés" : ind.unit === "points" ?
      "points, base 100 : plus le score est haut, plus le territoire est fragile" : "score de 1 à 10 : plus il est haut, plus le territoire est fragile";
    var html = "<h2>" + esc(ind.label) + "</h2><p class=\"sous\">" + esc(LEVELS[level].label) + " · " + scale +
      (lg.quintiles ? " · classes : quintiles des unités" : "") + "</p><ul>";
    lg.classes.slice().reverse().forEach(function (c) {
      html += '<li data-classe="' + c.classe + '"><span class="pastille" style="background:' + c.couleur + '"></span>' +
        esc(c.label) + '<span class="n">' + num(c.effectif, 0) + "</span></li>";
    });
    if (lg.sans_classe) html += '<li><span class="pastille" style="background:' + C.palette.sans_classe + '"></span>' +
      esc(C.palette.sans_classe_label) + '<span class="n">' + num(lg.sans_classe, 0) + "</span></li>";
    if (C.fiabilite) html += '<li><span class="pastille hachures"></span>' + esc(C.palette.fragile_label) + "</li>";
    if (LEVELS.qpv) html += '<li><span class="pastille trait-qpv" style="border-color:' + C.palette.qpv + '"></span>Quartier prioritaire (QPV)</li>';
    html += "</ul><p class=\"note\">Bornes des classes : " + (lg.source === "dictionary.json" ? "dictionnaire du calcul (dictionary.json)" :
      "plus petite et plus grande valeur des unités de chaque classe") + ". Effectifs : nombre d'unités.</p>";
    document.getElementById("legende").innerHTML = html;
  }

  /* ---------- hover ---------- */
  var tip = document.getElementById("infobulle");
  function hoverFilter(code) {
    allMaps.forEach(function (m) {
      C.levels.forEach(function (lv) { m.setFilter("survol-" + lv.id, ["==", ["get", "code"], lv.id === state.shown ? code : ""]); });
    });
  }
  main.on("mousemove", function (e) {
    var hits = main.queryRenderedFeatures(e.point, { layers: ["f-" + state.shown] });
    if (!hits.length) { tip.hidden = true; if (state.hover) { state.hover = null; hoverFilter(""); } main.getCanvas().style.cursor = ""; return; }
    var p = hits[0].properties, ind = indicatorsById[state.indicator];
    main.getCanvas().style.cursor = "pointer";
    if (state.hover !== p.code) { state.hover = p.code; hoverFilter(p.code); }
    tip.innerHTML = "<strong>" + esc(p.nom) + "</strong><small>" + esc(LEVELS[state.shown].singulier + " " + p.code) + "</small>" +
      esc(ind.label) + " : <strong>" + num(p[ind.id] === undefined ? null : p[ind.id], ind.kind === "score" ? 1 : 2) + "</strong>" +
      (p[ind.classe] ? " (classe " + p[ind.classe] + ")" : "");
    tip.style.left = Math.min(e.point.x + 14, main.getCanvas().clientWidth - 290) + "px";
    tip.style.top = (e.point.y + 14) + "px";
    tip.hidden = false;
  });
  main.on("mouseout", function () { tip.hidden = true; });
  main.on("click", function (e) {
    var hits = main.queryRenderedFeatures(e.point, { layers: ["f-" + state.shown] });
    if (hits.length) openCode(String(hits[0].properties.code), { level: state.shown, fly: false });
  });

  /* ---------- explanations (fiches) ---------- */
  function ficheOf(code) {
    var n = fnv1a(code) % C.fiches.shards;
    var name = ("00" + n).slice(-3);
    return load("fiches:" + n, "fiches/" + name + ".js").then(function (entries) { return entries[code]; });
  }
  function showMessage(text) {
    var box = document.getElementById("message");
    box.textContent = text;
    box.hidden = !text;
  }
  function openCode(code, opts) {
    opts = opts || {};
    return ficheOf(code).then(function (entries) {
      if (!entries || !entries.length) { showMessage("Aucune unité de code « " + code + " » dans cette carte."); return; }
      showMessage("");
      var e = entries.filter(function (x) { return x.level === opts.level; })[0] || entries[0];
      state.selected = e;
      renderFiche(e);
      markSelected(e.level, e.code);
      ensureLevel(e.level);
      if (opts.fly !== false) main.fitBounds(e.bbox, { padding: 120, maxZoom: 13.5, duration: opts.instant ? 0 : 800 });
      if (decodeURIComponent(location.hash.slice(1)) !== e.code) history.replaceState(null, "", "#" + e.code);
    }).catch(function (err) { console.error(err); showMessage(err.message); });
  }
  function markSelected(level, code) {
    allMaps.forEach(function (m) {
      C.levels.forEach(function (lv) {
        var on = lv.id === level && code;
        m.setFilter("choix-" + lv.id, ["==", ["get", "code"], on ? code : ""]);
        m.setLayoutProperty("choix-" + lv.id, "visibility", on ? "visible" : "none");
      });
    });
  }
  function swatch(k) {
    return '<span class="pastille" style="background:' + (k ? C.palette.classes[k] : C.palette.sans_classe) + '"></span>';
  }
  function scoresHtml(e) {
    var rows = "";
    C.score_meta.forEach(function (s, i) {
      var v = e.scores[i];
      rows += '<tr data-id="' + s.id + '"><td>' + esc(s.label) + "</td><td>" + num(v[0], 1) + "</td><td>" + swatch(v[1]) + " " + (v[1] || "—") + "</td></tr>";
    });
    return '<table class="scores"><thead><tr><th>Score</th><th>Points</th><th>Classe</th></tr></thead><tbody>' + rows + "</tbody></table>";
  }
  function indicatorsHtml(e) {
    var html = "", axis = null;
    C.indicator_meta.forEach(function (m, i) {
      var v = e.indicators[i];      // value, numerator, denominator, threshold, points, small_count
      if (m.axis !== axis) { axis = m.axis; html += '<h4 class="axe">' + esc(m.axis_label) + "</h4>"; }
      var src = '<div class="src">Source : ' + esc(m.source) + (m.vintage ? ", " + esc(m.vintage) : "") + "</div>";
      if (v[0] === null) {
        html += '<div class="ind absent" data-id="' + m.id + '"><div class="l1"><span>' + esc(m.label) +
          '</span><span class="pts">non disponible</span></div>' + src + "</div>";
        return;
      }
      html += '<div class="ind" data-id="' + m.id + '"><div class="l1"><span>' + esc(m.label) +
        (v[5] ? ' <span class="drapeau" title="dénominateur sous le seuil de fiabilité">⚠ petit effectif</span>' : "") +
        '</span><span class="pts">' + num(v[4], 1) + " pts</span></div>" +
        '<div class="l2">valeur <b>' + byUnit(v[0], m.unit) + "</b>" +
        (m.additive ? " · numérateur " + num(v[1], 1) + " / dénominateur " + num(v[2], 1) : "") +
        " · seuil " + byUnit(v[3], m.unit) + "</div>" + src + "</div>";
    });
    return html;
  }
  function decilesHtml(e) {       // ifn-2023: each indicator's value, its score 1-10, a small count
    return '<h4 class="axe">Indicateurs et scores de 1 à 10</h4>' + C.deciles_meta.map(function (m, i) {
      var v = e.deciles[i];         // value, score, small_count
      return '<div class="ind' + (v[0] === null ? " absent" : "") + '" data-id="' + m.id + '"><div class="l1"><span>' + esc(m.label) +
        (v[2] ? ' <span class="drapeau" title="dénominateur sous le seuil de fiabilité">⚠ petit effectif</span>' : "") +
        '</span><span class="pts">' + (v[1] === null ? "non disponible" : num(v[1], e.level === "iris" ? 0 : 2) + " / 10") + "</span></div>" +
        (v[0] === null ? "" : '<div class="l2">valeur <b>' + byUnit(v[0], "share") + "</b></div>") +
        (m.source ? '<div class="src">Source : ' + esc(m.source) + "</div>" : "") + "</div>";
    }).join("");
  }
  function ficheBody(e) {
    if (e.deciles) return decilesHtml(e);
    return scoresHtml(e) + "<h3>Indicateurs</h3>" + indicatorsHtml(e);
  }
  function renderFiche(e) {
    var lv = LEVELS[e.level], i = C.score_meta.map(function (s) { return s.id; }).indexOf("score_global");
    var g = e.deciles ? e.scores[0] : e.scores[i];
    var gLabel = e.deciles ? "Score total de fragilité numérique (1 à 10, ifn-2023)" : "Score global de fragilité numérique";
    var fiab = e.fiabilite === null || e.fiabilite === undefined ? "" :
      '<p class="meta' + (e.fiabilite ? " drapeau" : "") + '">Fiabilité : ' + (e.fiabilite ?
        e.fiabilite + " indicateur(s) reposent sur de petits effectifs (voir ⚠)" : "aucun indicateur sur de petits effectifs") + "</p>";
    var el = document.getElementById("fiche");
    el.innerHTML = '<button class="fermer" type="button" aria-label="Fermer le détail">×</button>' +
      '<p class="niveau">' + esc(lv ? lv.singulier : e.level) + " · " + esc(e.code) + "</p><h2>" + esc(e.name || e.code) + "</h2>" +
      (e.parents.length ? '<p class="parents">' + esc(e.parents.join(" · ")) + "</p>" : "") +
      '<p class="population">' + num(e.population, 0) + " habitants" + (e.millesime_rp ? " (recensement " + e.millesime_rp + ")" : "") + "</p>" +
      (e.territoire_complet === false ? '<p class="meta drapeau">Territoire incomplet dans les fichiers d\'entrée : ' +
        "les chiffres ne portent que sur la partie présente (voir les notes du rapport du run).</p>" : "") +
      '<div class="score-principal" data-score="score_global">' + swatch(g[1]) + '<span class="valeur">' + num(g[0], 1) +
      '</span><span class="libelle">' + gLabel + "<br>" + (g[1] ? "classe " + g[1] + " sur 5" : (e.deciles ? "" : "non classé")) + "</span></div>" +
      ficheBody(e) +
      '<p class="meta">Indicateurs disponibles (n_indicateurs) : <strong>' + (e.n_indicateurs === null ? "—" : e.n_indicateurs) +
      "</strong> sur " + (e.deciles ? C.deciles_meta.length : C.indicator_meta.length) + ". " + (e.deciles ?
        "Score 1 à 10 : décile de l'unité parmi les unités ; au-dessus de l'IRIS, moyenne des scores pondérée par la population." :
        "Points = 100 × valeur rapportée au seuil ; un score est la moyenne des points disponibles.") + "</p>" +
      fiab + (e.lissage && e.lissage !== "aucun" ? '<p class="meta drapeau">Taux du recensement lissés (' + esc(e.lissage) +
        ") vers le taux du territoire de référence : valeur ≠ numérateur / dénominateur.</p>" : "") +
      '<p class="meta">Méthode ' + esc(e.method || "") + (e.reference ? " · seuils du territoire de référence : " + esc(e.territoire_reference || ((REFERENCES[e.reference] || e.reference) + " " + (e.code_reference || ""))) : "") + "</p>";
    el.hidden = false;
    el.querySelector(".fermer").addEventListener("click", closeFiche);
    main.resize();
  }
  function closeFiche() {
    document.getElementById("fiche").hidden = true;
    state.selected = null;
    markSelected(null, "");
    history.replaceState(null, "", location.pathname + location.search);
    main.resize();
  }

  /* ---------- search ---------- */
  var searchInput = document.getElementById("recherche"), results = document.getElementById("resultats");
  var index = null, cursor = -1, searchTimer = null;
  function searchIndex() {
    return load("recherche", "data/recherche.js").then(function (entries) {
      if (!index) index = entries.map(function (e) { return { e: e, f: fold(e[2]) }; });
      return index;
    });
  }
  function search(q) {
    var fq = fold(q.trim());
    if (fq.length < 2) { results.hidden = true; return; }
    searchIndex().then(function (idx) {
      var hits = [];
      for (var i = 0; i < idx.length; i++) {
        var e = idx[i].e, f = idx[i].f, rank = -1;
        if (e[1].toLowerCase() === fq) rank = 0;
        else if (f === fq) rank = 1;
        else if (f.indexOf(fq) === 0) rank = 2;
        else if (e[1].toLowerCase().indexOf(fq) === 0) rank = 3;
        else if (f.indexOf(fq) > 0) rank = 4;
        if (rank >= 0) hits.push([rank, SEARCH_RANK[ORDER[e[0]]], e[2], e]);
      }
      hits.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1] || a[2].localeCompare(b[2], "fr"); });
      showResults(hits.slice(0, 15).map(function (h) { return h[3]; }));
    });
  }
  function showResults(list) {
    cursor = -1;
    results.innerHTML = list.length ? list.map(function (e, i) {
      var lv = ORDER[e[0]];
      return '<li role="option" data-i="' + i + '" data-code="' + esc(e[1]) + '" data-level="' + lv + '">' + esc(e[2] || e[1]) +
        "<small>" + esc((LEVELS[lv] ? LEVELS[lv].singulier : lv) + " · " + (e[3] ? e[3] + " · " : "") + e[1]) + "</small></li>";
    }).join("") : '<li class="vide">Aucun résultat</li>';
    results.hidden = false;
  }
  function pick(li) {
    if (!li || !li.dataset.code) return;
    results.hidden = true;
    searchInput.value = li.firstChild.textContent;
    openCode(li.dataset.code, { level: li.dataset.level });
  }
  searchInput.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { search(searchInput.value); }, 120);
  });
  searchInput.addEventListener("focus", function () { searchIndex(); });
  searchInput.addEventListener("keydown", function (ev) {
    var items = results.querySelectorAll("li[data-code]");
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      if (!items.length) return;
      cursor = (cursor + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items.forEach(function (li, i) { li.setAttribute("aria-selected", i === cursor ? "true" : "false"); });
      ev.preventDefault();
    } else if (ev.key === "Enter") {
      pick(items[Math.max(cursor, 0)]);
    } else if (ev.key === "Escape") { results.hidden = true; }
  });
  results.addEventListener("mousedown", function (ev) { pick(ev.target.closest("li")); });
  searchInput.addEventListener("blur", function () { setTimeout(function () { results.hidden = true; }, 150); });

  /* ---------- page ---------- */
  function fillControls() {
    var niveau = document.getElementById("niveau");
    niveau.innerHTML = '<option value="auto">Automatique (selon le zoom)</option>' + C.levels.map(function (lv) {
      return '<option value="' + lv.id + '">' + esc(lv.label) + " (" + num(lv.count, 0) + ")</option>";
    }).join("");
    niveau.addEventListener("change", function () { state.chosen = niveau.value; refreshLevel(); });
    var sel = document.getElementById("indicateur"), groups = { score: "Fragilité numérique (scores)", plateforme: "Travailleurs des plateformes" };
    sel.innerHTML = Object.keys(groups).map(function (kind) {
      var opts = C.indicators.filter(function (i) { return i.kind === kind; });
      return opts.length ? '<optgroup label="' + groups[kind] + '">' + opts.map(function (i) {
        return '<option value="' + i.id + '"' + (i.id === state.indicator ? " selected" : "") + ">" + esc(i.label) + "</option>";
      }).join("") + "</optgroup>" : "";
    }).join("");
    sel.addEventListener("change", function () { setIndicator(sel.value); });
    document.getElementById("case-qpv").hidden = !LEVELS.qpv;
    document.getElementById("voir-qpv").addEventListener("change", function (ev) {
      allMaps.forEach(function (m) { if (m.getLayer("contour-qpv")) m.setLayoutProperty("contour-qpv", "visibility", ev.target.checked ? "visible" : "none"); });
    });
    document.getElementById("case-fiabilite").hidden = !C.fiabilite;
    document.getElementById("voir-fiabilite").addEventListener("change", function () { allMaps.forEach(function (m) { setVisible(m, state.shown); }); });
  }
  function fillTexts() {
    document.title = C.titre + " · " + C.territoire;
    document.getElementById("sous-titre").textContent = C.territoire + " · méthode " + (C.footer.methode || "") +
      (C.footer.reference ? " · seuils : " + C.footer.reference : "") + (C.footer.millesime_rp ? " · recensement " + C.footer.millesime_rp : "") +
      (C.footer.lissage ? " · taux lissés (" + C.footer.lissage + ")" : "");
    if (C.banniere) {
      var b = document.getElementById("bandeau");
      b.innerHTML = "<strong>DONNÉES SYNTHÉTIQUES.</strong> " + esc(C.banniere);
      b.hidden = false;
    }
    var f = C.footer, items = f.sources.map(function (s) {
      return "<li" + (s.synthetique ? ' class="synth"' : "") + ">" + esc(s.titre) + " — " + esc(s.editeur) +
        (s.millesime ? ", millésime " + esc(s.millesime) : "") + (s.licence ? " (" + esc(s.licence) + ")" : "") + (s.synthetique ? " — SYNTHÉTIQUE" : "") + "</li>";
    }).join("");
    document.getElementById("pied").innerHTML = "<details><summary>Sources : " + esc(f.editeurs.join(", ") || "—") +
      " (détail et millésimes ▸)" +
      " · Méthode : indice de fragilité numérique (La MedNum), " + esc(f.methode || "") +
      (f.reference ? ", seuils du territoire de référence (" + esc(f.reference) + ")" : "") + " · " + esc(f.classes) + " · fragilite " + esc(f.version) + (f.calcule_le ? ", calcul du " + esc(f.calcule_le.slice(0, 10)) : "") +
      "</summary><ul>" + items + "</ul><p>Cartographie : MapLibre GL JS et PMTiles (licences BSD-3, dans vendor/). Aucun fond de carte externe : " +
      "terres, départements et régions sont dessinés à partir des contours des données.</p></details>";
  }
  function firstDraw() {
    var level = levelAt(main.getZoom());
    var needed = BACKGROUND.concat([level]).concat(LEVELS.qpv ? ["qpv"] : []);
    return Promise.all(needed.map(ensureLevel)).then(function () {
      // tiles: the frame that fired 'load' already drew the shown level (the style starts with
      // it visible); inline: the data just handed over is drawn at the next 'idle'
      if (TILES && main.loaded() && main.areTilesLoaded() && !main.isMoving()) return null;
      return new Promise(function (resolve) { main.once("idle", resolve); main.triggerRepaint(); });
    }).then(function () {
      F.firstDrawMs = performance.now();
      document.body.dataset.pret = "1";
      // the other levels, so that a change of level is instant
      C.levels.forEach(function (lv) { ensureLevel(lv.id); });
    });
  }

  fillControls();
  fillTexts();
  if (TILES && location.protocol === "file:") {
    showMessage("Cette carte nationale lit des tuiles vectorielles (PMTiles) par requêtes HTTP : ouvrez-la par un serveur " +
      "(fragilite carte --serve, ou tout hébergement statique), pas depuis le disque.");
  }
  styled[0].then(function () {
    refreshLevel(true);
    main.on("zoomend", refreshLevel);
    var start = decodeURIComponent(location.hash.slice(1));
    if (start) openCode(start, { instant: true });
    return firstDraw();
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && state.selected && document.activeElement !== searchInput) closeFiche();
  });
  window.addEventListener("hashchange", function () {
    var code = decodeURIComponent(location.hash.slice(1));
    if (code && (!state.selected || state.selected.code !== code)) openCode(code);
  });
})();
