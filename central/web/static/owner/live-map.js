// A Leaflet map of one bike: its position (a marker), its recent track (a line) and, on request, a history (a second
// line). Leaflet is the bundled copy (/static/vendor/leaflet/leaflet.js, loaded before this module as window.L); the
// tiles come from central's configuration, and with none the map is a plain background with a scale, the position and
// the track still drawn. The marker's coordinates are also on the map element (data-lat, data-lon) for the page's
// text and for tests.

const L = window.L;
let configPromise = null;

function webConfig() {
  configPromise ??= fetch("/api/web/config", { headers: { Accept: "application/json" } })
    .then((response) => (response.ok ? response.json() : {}))
    .catch(() => ({}));
  return configPromise;
}

const TRACK_STYLE = { color: "#1f5fbf", weight: 4, opacity: 0.8 };
const HISTORY_STYLE = { color: "#8e24aa", weight: 4, opacity: 0.85, dashArray: "6 6" };
const MARKER_STYLE = { radius: 11, color: "#fff", weight: 3, fillColor: "#c62828", fillOpacity: 1 };

export class LiveMap {
  static async create(element) {
    const config = await webConfig();
    return new LiveMap(element, config);
  }

  constructor(element, config) {
    this.element = element;
    const maxZoom = config.tile_max_zoom || 19;
    this.map = L.map(element, { zoomControl: true, attributionControl: Boolean(config.tile_url), maxZoom });
    if (config.tile_url) {
      L.tileLayer(config.tile_url, { maxZoom, attribution: config.tile_attribution || "" }).addTo(this.map);
    } else {
      element.classList.add("no-tiles");
    }
    L.control.scale({ imperial: false }).addTo(this.map);
    this.track = L.polyline([], TRACK_STYLE).addTo(this.map);
    this.history = L.polyline([], HISTORY_STYLE).addTo(this.map);
    this.marker = null;
    this.centred = false;
    this.map.setView([35.0, 105.0], 4); // China, until a position comes
  }

  // The newest position; the first one centres the map, later ones pan only when the marker leaves the view.
  showPosition(position) {
    if (!position) return;
    const point = [position.lat, position.lon];
    if (this.marker) this.marker.setLatLng(point);
    else this.marker = L.circleMarker(point, MARKER_STYLE).addTo(this.map);
    this.marker.bringToFront();
    this.element.dataset.lat = String(position.lat);
    this.element.dataset.lon = String(position.lon);
    if (!this.centred) {
      this.map.setView(point, 16);
      this.centred = true;
    } else if (!this.map.getBounds().contains(point)) {
      this.map.panTo(point);
    }
  }

  // The recent track: every point replaced.
  showTrack(points) {
    this.track.setLatLngs(located(points));
    this.element.dataset.trackPoints = String(this.track.getLatLngs().length);
  }

  // One more point at the end of the recent track (a new position while following the bike).
  extendTrack(position) {
    const last = this.track.getLatLngs().at(-1);
    if (last && last.lat === position.lat && last.lng === position.lon) return;
    this.track.addLatLng([position.lat, position.lon]);
    this.element.dataset.trackPoints = String(this.track.getLatLngs().length);
  }

  // A history window, drawn apart from the live track and brought into view; an empty one clears it.
  showHistory(points) {
    const line = located(points);
    this.history.setLatLngs(line);
    this.element.dataset.historyPoints = String(line.length);
    if (line.length) this.map.fitBounds(this.history.getBounds(), { padding: [24, 24], maxZoom: 17 });
  }

  // After the element changed size (a section opened or closed).
  resized() {
    this.map.invalidateSize();
  }
}

function located(points) {
  return points.filter((p) => p.lat != null && p.lon != null && !p.approximate).map((p) => [p.lat, p.lon]);
}
