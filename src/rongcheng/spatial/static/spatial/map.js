/* Rongcheng map component: Leaflet 1.9.4 (vendored) drawing the platform's own OGC API – Features layers.
 *
 * No tile server: the background is plain; districts and streets are drawn as outlines (the `divisions`
 * collection), then the layers named in data-layers, fetched as GeoJSON for the visible box.
 *
 *   <div class="rc-map" data-layers="grid-cells,pois" data-pick-lon="id_lon" data-pick-lat="id_lat"
 *        data-center="119.30,26.08" data-zoom="13" data-ogc="/ogc" data-label-picked="…"></div>
 *
 * With a <script type="application/json" id="rc-hot-spots"> on the page ({"streets": {street code: cases}, "label":
 * the word after the number}), the streets are drawn
 * at every zoom, shaded by their number of cases (hot spots), each with a popup of its name and number.
 *
 * With data-pick-lon/-lat, a click (or a drag of the marker) writes the point's WGS84 longitude and latitude
 * (6 decimals) into those inputs; typing into the inputs moves the marker, so the inputs are the keyboard way.
 */
(function () {
  "use strict";
  if (typeof L === "undefined") { return; }

  var STYLES = {
    "county": { color: "#3d4f7a", weight: 2, fill: false },
    "street": { color: "#7a8bb5", weight: 1, dashArray: "4 3", fill: false },
    "grid-cells": { color: "#9aa5b1", weight: 0.6, fillColor: "#e8edf2", fillOpacity: 0.25 },
    "default": { color: "#b4451f", weight: 2, fillOpacity: 0.3 }
  };
  var POINT_COLORS = ["#b4451f", "#1f6fb4", "#2f8a3b", "#8a2f7d", "#b48a1f", "#1fa3a3"];
  var LIMIT = 1000;

  function text(properties) {
    var lines = [];
    ["name", "kind_label", "address", "title", "status_label", "code"].forEach(function (key) {
      if (properties && properties[key] && lines.length < 3) { lines.push(String(properties[key])); }
    });
    return lines;
  }

  function popup(properties) {
    var box = document.createElement("div");
    text(properties).forEach(function (line, i) {
      var p = document.createElement(i === 0 ? "strong" : "div");
      p.textContent = line;
      box.appendChild(p);
    });
    return box;
  }

  function fetchJson(url) {
    // The layers are public: no cookie is sent, so a signed-in page does not touch its session per layer fetched.
    return fetch(url, { headers: { "Accept": "application/geo+json" }, credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : { features: [] }; })
      .catch(function () { return { features: [] }; });
  }

  function bboxOf(map) {
    var b = map.getBounds();
    var w = Math.max(-180, b.getWest()), s = Math.max(-90, b.getSouth());
    var e = Math.min(180, b.getEast()), n = Math.min(90, b.getNorth());
    return [w, s, e, n].map(function (v) { return v.toFixed(6); }).join(",");
  }

  function setup(el) {
    var ogc = (el.getAttribute("data-ogc") || "/ogc").replace(/\/+$/, "");
    var layerIds = (el.getAttribute("data-layers") || "").split(",").map(function (s) { return s.trim(); })
      .filter(function (s) { return /^[a-z0-9_-]+$/.test(s); });
    var pickLon = el.getAttribute("data-pick-lon") ? document.getElementById(el.getAttribute("data-pick-lon")) : null;
    var pickLat = el.getAttribute("data-pick-lat") ? document.getElementById(el.getAttribute("data-pick-lat")) : null;
    var zoom = parseInt(el.getAttribute("data-zoom") || "", 10);
    var map = L.map(el, { zoomControl: true, attributionControl: true, minZoom: 7, maxZoom: 19 });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(el.getAttribute("data-attribution") || "Rongcheng");
    var center = (el.getAttribute("data-center") || "").split(",").map(Number);
    if (center.length === 2 && isFinite(center[0]) && isFinite(center[1]) && center[0] && center[1]) {
      map.setView([center[1], center[0]], isFinite(zoom) ? zoom : 14);
    } else {
      map.setView([26.08, 119.30], 10);
      fetchJson(ogc + "/collections/grid-cells?f=json").then(function (c) {
        var bb = c && c.extent && c.extent.spatial && c.extent.spatial.bbox && c.extent.spatial.bbox[0];
        if (bb && !el.getAttribute("data-pick-lon-initial")) { map.fitBounds([[bb[1], bb[0]], [bb[3], bb[2]]]); }
      });
    }

    // District outlines once; street outlines when zoomed in enough to tell them apart.
    var counties = L.geoJSON(null, { style: STYLES.county, interactive: false }).addTo(map);
    var streets = L.geoJSON(null, { style: STYLES.street, interactive: false });
    fetchJson(ogc + "/collections/divisions/items?f=json&level=county&limit=100").then(function (fc) {
      counties.addData(fc.features.filter(function (f) { return f.geometry; }));
    });
    var hotSource = document.getElementById("rc-hot-spots");
    var hotData = hotSource ? JSON.parse(hotSource.textContent || "{}") : null;
    var hot = hotData ? (hotData.streets || {}) : null;
    if (hot) {
      var most = Math.max.apply(null, [1].concat(Object.keys(hot).map(function (k) { return hot[k]; })));
      var label = hotData.label || "";
      streets = L.geoJSON(null, {
        style: function (f) {
          var n = hot[f.id] || 0;
          return { color: "#7a8bb5", weight: 1, fillColor: "#b4451f", fillOpacity: n ? 0.15 + 0.6 * n / most : 0 };
        },
        onEachFeature: function (f, layer) {
          if (hot[f.id]) { layer.bindPopup(popup({ name: f.properties.name, title: hot[f.id] + " " + label })); }
        }
      });
    }
    var streetsLoaded = false;
    function streetsToggle() {
      if (hot || map.getZoom() >= 11) {
        if (!streetsLoaded) {
          streetsLoaded = true;
          fetchJson(ogc + "/collections/divisions/items?f=json&level=street&limit=1000").then(function (fc) {
            streets.addData(fc.features.filter(function (f) { return f.geometry; }));
          });
        }
        if (!map.hasLayer(streets)) { streets.addTo(map); }
      } else if (map.hasLayer(streets)) {
        map.removeLayer(streets);
      }
    }

    var picking = Boolean(pickLon && pickLat);
    var drawn = layerIds.map(function (id, i) {
      var color = POINT_COLORS[i % POINT_COLORS.length];
      var group = L.geoJSON(null, {
        style: STYLES[id] || STYLES["default"],
        // When picking, a click on an area must reach the map (a popup would stop it); points keep their popups.
        interactive: !picking,
        pointToLayer: function (_f, latlng) {
          return L.circleMarker(latlng, { radius: 6, color: "#fff", weight: 1.5, fillColor: color, fillOpacity: 0.9 });
        },
        onEachFeature: function (f, layer) {
          if (text(f.properties).length) { layer.bindPopup(popup(f.properties)); }
        }
      }).addTo(map);
      return { id: id, group: group };
    });
    var pending = 0;
    function refresh() {
      streetsToggle();
      var box = bboxOf(map);
      var ticket = ++pending;
      drawn.forEach(function (d) {
        fetchJson(ogc + "/collections/" + d.id + "/items?f=json&limit=" + LIMIT + "&bbox=" + box).then(function (fc) {
          if (ticket !== pending) { return; }
          d.group.clearLayers();
          d.group.addData(fc.features || []);
        });
      });
    }
    var timer = null;
    map.on("moveend", function () { clearTimeout(timer); timer = setTimeout(refresh, 150); });
    refresh();

    if (pickLon && pickLat) {
      el.classList.add("rc-map-pick");
      var marker = null;
      var place = function (latlng, write) {
        if (!marker) {
          marker = L.marker(latlng, { draggable: true, keyboard: true, title: el.getAttribute("data-label-picked") || "" })
            .addTo(map);
          marker.on("dragend", function () { place(marker.getLatLng(), true); });
        } else {
          marker.setLatLng(latlng);
        }
        if (write) {
          pickLon.value = latlng.lng.toFixed(6);
          pickLat.value = latlng.lat.toFixed(6);
          pickLon.dispatchEvent(new Event("change", { bubbles: true }));
          pickLat.dispatchEvent(new Event("change", { bubbles: true }));
        }
      };
      map.on("click", function (e) { place(e.latlng, true); });
      var fromInputs = function () {
        var lon = parseFloat(pickLon.value), lat = parseFloat(pickLat.value);
        if (isFinite(lon) && isFinite(lat) && Math.abs(lon) <= 180 && Math.abs(lat) <= 90) {
          place(L.latLng(lat, lon), false);
          return true;
        }
        return false;
      };
      pickLon.addEventListener("change", fromInputs);
      pickLat.addEventListener("change", fromInputs);
      if (fromInputs()) {
        el.setAttribute("data-pick-lon-initial", "1");
        map.setView(marker.getLatLng(), isFinite(zoom) ? zoom : 15);
      }
    }
    el.rcMap = map;  // for tests and other scripts of the page
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".rc-map"), function (el) {
      if (!el.rcMap) { setup(el); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
