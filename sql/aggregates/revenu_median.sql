-- Population-weighted median income of each unit ({source}: the rows to pool, cnt_iris or
-- cnt_communes; {key}: the unit's code column there; {target}: the table written).
--
-- Why a separate step: a median is not additive. Communes take Filosofi's communal value, else
-- the population-weighted median of their IRIS values; larger units take the population-
-- weighted median of their communes' values (the smallest value whose cumulated population
-- reaches half of the total). An approximation of the true median, stated in the dictionary.
-- The same pooling gives the income threshold of a reference territory.
CREATE OR REPLACE TABLE {target} AS
WITH parts AS (
    SELECT {key} AS code, val_revenu_median AS v, population AS w
    FROM {source}
    WHERE {key} IS NOT NULL AND val_revenu_median IS NOT NULL AND population > 0
),
ranked AS (
    SELECT code, v,
           sum(w) OVER (PARTITION BY code ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum,
           sum(w) OVER (PARTITION BY code) AS total
    FROM parts
)
SELECT code, min(v) FILTER (cum >= total / 2) AS val_revenu_median
FROM ranked
GROUP BY code;
