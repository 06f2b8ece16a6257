-- Polygons of a territory level ({key}) as the union of its IRIS polygons, already in the
-- layer's CRS (iris_geom, loaded by the compute step).
--
-- Why every IRIS polygon and not only the scored ones: an IRIS without census counts (activity
-- zones, geography changes) is still part of its commune's ground.
CREATE OR REPLACE TABLE geom_{level} AS
SELECT s.{key} AS code, ST_AsWKB(ST_Union_Agg(ST_MakeValid(ST_GeomFromWKB(g.wkb)))) AS wkb
FROM iris_geom g
JOIN stg_iris s USING (code_iris)
WHERE s.{key} IS NOT NULL
GROUP BY s.{key};
