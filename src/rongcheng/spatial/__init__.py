"""Spatio-temporal services (时空信息公共服务平台): the city's layers through OGC API – Features, locating a point
in the grid, geocoding, coordinate systems, and the map the pages draw from the platform's own data.

Public surface for the apps above:

- `selectors.locate(lon=, lat=) -> Location | None` (the grid cell, community, street and district of a WGS84
  point), `selectors.inside_city`, `selectors.city_bounds`.
- `services.Layer` and `services.layer_register(layer)`: a higher app (city cases, sensors) publishes a layer as an
  OGC API – Features collection by subclassing `Layer` and registering an instance in its `AppConfig.ready`;
  spatial never imports the apps above it.
- `services.to_wgs84(x, y, crs=)`: points arriving in CGCS2000, GCJ-02 or Web Mercator.
- The map component: `{% include "spatial/map.html" with layers="grid-cells,pois" pick_lon="id_lon"
  pick_lat="id_lat" %}` (see that template), drawn by the vendored Leaflet 1.9.4 from `/ogc/` without a tile server.
"""
