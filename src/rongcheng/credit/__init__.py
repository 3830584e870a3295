"""Public credit: 双公示 records, red and black lists, joint reward and punishment, credit repair and reports."""
