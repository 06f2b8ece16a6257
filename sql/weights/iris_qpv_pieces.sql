-- Weights IRIS x QPV, first part: the pieces' areas (METHODS 3; the method is described in
-- weights/iris_qpv.sql, which follows). Inputs, all in one metric CRS: z_iris(code_iris, geom),
-- z_qpv(code_qpv, geom), z_cells(idcar, ind, geom) the Filosofi 200 m cells.
--
-- The spatial joins and overlays run on every thread; their tables are then stored in a fixed
-- order (ORDER BY), because the sums of weights/iris_qpv.sql read them in one thread, in table
-- order: floating-point addition is not associative, and sums taken in whatever order parallel
-- threads finish made the weights of the same inputs differ in the 16th digit from one run to
-- the next (national scale), so that outputs meant to be byte-identical were not.

CREATE OR REPLACE TABLE w_pairs AS
SELECT i.code_iris, q.code_qpv,
       ST_Area(i.geom) AS iris_area,
       ST_Area(ST_Intersection(i.geom, q.geom)) AS area_in
FROM z_iris i
JOIN z_qpv q ON ST_Intersects(i.geom, q.geom)
ORDER BY i.code_iris, q.code_qpv;

DELETE FROM w_pairs WHERE area_in <= 0;

-- A cell wholly inside its IRIS (most of them) is its own piece: the containment test is far
-- cheaper than an overlay.
CREATE OR REPLACE TABLE w_ci AS
SELECT c.idcar, c.ind, ST_Area(c.geom) AS cell_area, i.code_iris,
       CASE WHEN ST_Within(c.geom, i.geom) THEN c.geom ELSE ST_Intersection(c.geom, i.geom) END AS geom
FROM z_cells c
JOIN z_iris i ON ST_Intersects(c.geom, i.geom)
ORDER BY c.idcar, i.code_iris;

CREATE OR REPLACE TABLE w_in AS
SELECT ci.idcar, ci.code_iris, q.code_qpv, ST_Area(ST_Intersection(ci.geom, q.geom)) AS a
FROM w_ci ci
JOIN z_qpv q ON ST_Intersects(ci.geom, q.geom)
ORDER BY ci.idcar, ci.code_iris, q.code_qpv;
