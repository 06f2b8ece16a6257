-- Polygons of a territory level ({level}, code column {key}) as the union of the polygons of the
-- level below ({source}: iris_geom, or geom_<level> of a smaller level, already in the layer's CRS).
--
-- Why every IRIS polygon and not only the scored ones: an IRIS without census counts (activity
-- zones, geography changes) is still part of its commune's ground.
-- Why level by level: a département is the union of its communes, not of its IRIS again; the
-- shared IRIS boundaries inside a commune are dissolved once. Inputs are already valid
-- (compute.polygonal), so no ST_MakeValid pass here.
CREATE OR REPLACE TABLE geom_{level} AS
WITH parents AS (
    SELECT DISTINCT {child_key} AS child, {key} AS code FROM stg_iris WHERE {key} IS NOT NULL
)
SELECT p.code, ST_AsWKB(ST_Union_Agg(ST_GeomFromWKB(g.wkb))) AS wkb
FROM {source} g
JOIN parents p ON p.child = g.code
GROUP BY p.code;
