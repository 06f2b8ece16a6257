-- A commune value the user gives for one indicator ({ind}) replaces the counts of the commune's IRIS.
--
-- Why this way: the value is the commune's rate. Each IRIS of the commune takes it, with its own
-- denominator (the source's when the run has one, e.g. ARCEP's premises or the census families,
-- else the IRIS's population) and numerator = rate x denominator. The commune then shows exactly
-- the user's value and the levels above pool communes by that denominator, as for every count.
UPDATE cnt_iris SET
    num_{ind} = v.valeur * coalesce(cnt_iris.den_{ind}, cnt_iris.population),
    den_{ind} = coalesce(cnt_iris.den_{ind}, cnt_iris.population)
FROM stg_indicateurs_communes v
WHERE v.code_commune = cnt_iris.code_commune AND v.indicateur = '{ind}';
