-- Attach the population-weighted median income of their communes ({median}) to the units of a
-- level above the commune ({table}).
CREATE OR REPLACE TABLE {table} AS
SELECT t.*, m.val_revenu_median
FROM {table} t
LEFT JOIN {median} m ON m.code = t.code;
