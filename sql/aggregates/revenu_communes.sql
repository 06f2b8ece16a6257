-- Median income of each commune: Filosofi's communal value first, else the population-weighted
-- median of its IRIS values (computed into rev_communes by aggregates/revenu_median.sql).
--
-- Why: Filosofi publishes the true communal median; rebuilding it from IRIS medians would only
-- approximate it, so the approximation is the fallback, never the first choice.
CREATE OR REPLACE TABLE cnt_communes AS
SELECT c.*, coalesce(f.revenu_median, r.val_revenu_median) AS val_revenu_median
FROM cnt_communes c
LEFT JOIN stg_communes_revenus f ON f.code_commune = c.code
LEFT JOIN rev_communes r ON r.code = c.code;
