-- The points of one zone placed in its IRIS and QPV polygons (z_iris, z_qpv, in the zone's
-- metric CRS $epsg_zone). Points are reprojected from their own CRS by DuckDB with lon/lat order
-- forced (always_xy): EPSG:4326 would otherwise be read latitude first.
-- A point on a boundary shared by two polygons takes the smaller code, so that the result does
-- not depend on the order of the rows.
CREATE OR REPLACE TABLE pf_zone AS
WITH p AS (
    SELECT siret, ST_Transform(ST_Point(px, py), 'EPSG:' || pepsg, 'EPSG:' || $epsg_zone, always_xy := true) AS geom
    FROM pf_points
    WHERE px IS NOT NULL AND pepsg IN (SELECT unnest($epsg_connus))
      AND (substr(code_commune, 1, 3) IN (SELECT unnest($prefixes))
           OR ($zone = 'metropole' AND substr(coalesce(code_commune, ''), 1, 2) <> '97'))
),
i AS (
    SELECT p.siret, min(z.code_iris) AS iris_polygone
    FROM p JOIN z_iris z ON ST_Contains(z.geom, p.geom) GROUP BY p.siret
),
q AS (
    SELECT p.siret, min(z.code_qpv) AS qpv_polygone
    FROM p JOIN z_qpv z ON ST_Contains(z.geom, p.geom) GROUP BY p.siret
)
SELECT p.siret, i.iris_polygone, coalesce(q.qpv_polygone, '') AS qpv_polygone
FROM p LEFT JOIN i USING (siret) LEFT JOIN q USING (siret);
