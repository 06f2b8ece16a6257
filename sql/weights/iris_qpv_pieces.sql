-- Weights IRIS x QPV, first part: each IRIS's area and its area in each QPV it meets, the area
-- weights (poids_surface) and the list of pairs that weights/iris_qpv.sql, which follows, gives
-- a population weight (METHODS 3). Inputs in one metric CRS: z_iris(code_iris, geom),
-- z_qpv(code_qpv, geom). The cells' pieces (w_ci, w_in) are cut in Python (stages/carreaux.py):
-- in the grid's own CRS a cell is a rectangle, and clipping by it costs a third of the general
-- overlay DuckDB would run on 500 000 pairs nationally.
--
-- Stored in a fixed order (ORDER BY): the sums of weights/iris_qpv.sql read their tables in one
-- thread, in table order, since floating-point addition is not associative (sums taken in the
-- order parallel threads finish once made the same inputs' weights differ in the 16th digit).

CREATE OR REPLACE TABLE w_pairs AS
SELECT i.code_iris, q.code_qpv,
       ST_Area(i.geom) AS iris_area,
       ST_Area(ST_Intersection(i.geom, q.geom)) AS area_in
FROM z_iris i
JOIN z_qpv q ON ST_Intersects(i.geom, q.geom)
ORDER BY i.code_iris, q.code_qpv;

DELETE FROM w_pairs WHERE area_in <= 0;
