"""City cases (网格化管理, 数字城管): the city grid's cases from intake to closing, Open311 GeoReport v2."""
