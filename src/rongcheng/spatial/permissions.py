"""Who may do what on the spatio-temporal platform.

Reading the layers through OGC API – Features is public (they carry no personal data). Registering points of
interest takes the Django permission `spatial.add_pointofinterest` (a staff role grants it); batch geocoding takes
`spatial.geocode_batch` on pages and the OAuth scope `spatial:geocode` through the API.
"""

from __future__ import annotations

from rongcheng.kernel.context import Account

POI_PERMISSION = "spatial.add_pointofinterest"
GEOCODE_BATCH_PERMISSION = "spatial.geocode_batch"
SCOPE_GEOCODE = "spatial:geocode"


def may_register_poi(user: Account) -> bool:
    return bool(user.is_authenticated) and bool(user.has_perm(POI_PERMISSION))


def may_geocode_batch(user: Account) -> bool:
    return bool(user.is_authenticated) and bool(user.has_perm(GEOCODE_BATCH_PERMISSION))
