-- Weights IRIS x QPV: the share of each IRIS's population that lives in each QPV (METHODS 3).
-- Reads the pieces (w_pairs of weights/iris_qpv_pieces.sql; w_ci and w_in, the cells cut by the
-- IRIS and the QPVs, of stages/carreaux.py; each in a fixed order), z_iris, z_cover(geom) what the cells cover (empty table: a national file, which covers
-- everything). Parameter $seuil (default 0.9). Run in one thread (allocation.py), so that
-- every sum adds its terms in the same order at every run: the same inputs, the same bytes.
--
-- Why not area: QPVs are dense estates inside larger IRIS, so area weights miss 40 % of a QPV's
-- people. Why not cells cut by area either: a cell astride a QPV boundary holds the estate's
-- towers on one side and a road or a park on the other; spreading it evenly by area is the
-- remaining 18 % error. So each cell is cut into pieces (cell x IRIS x QPV) and its people are
-- shared between its pieces in proportion to area x density of the piece's class (two-class
-- dasymetric mapping, Mennis & Hultgren 2006): the density of a QPV class is measured on the
-- cells lying at least $seuil inside that QPV, the density of the rest of an IRIS on its cells
-- lying at least $seuil outside any QPV (a global value where there are none, measured on the
-- ground around QPVs, the only IRIS and cells the caller registers: allocation.py). Nothing from the
-- published QPV figures enters the weights: they stay an independent yardstick.
-- An IRIS not wholly inside the cells' cover, or with no populated cell, falls back to area.

CREATE OR REPLACE TABLE w_pieces AS
WITH ci AS (
    SELECT idcar, ind, cell_area, code_iris, a FROM w_ci
),
inq AS (
    SELECT idcar, code_iris, sum(a) AS a_in FROM w_in GROUP BY idcar, code_iris
)
SELECT ci.idcar, ci.ind, ci.cell_area, ci.code_iris, CAST(NULL AS VARCHAR) AS code_qpv,
       greatest(ci.a - coalesce(inq.a_in, 0), 0) AS a
FROM ci LEFT JOIN inq USING (idcar, code_iris)
UNION ALL
SELECT w.idcar, ci.ind, ci.cell_area, w.code_iris, w.code_qpv, w.a
FROM w_in w JOIN ci USING (idcar, code_iris);

CREATE OR REPLACE TABLE w_cell_share AS
SELECT idcar, sum(a) FILTER (code_qpv IS NOT NULL) / any_value(cell_area) AS share_in
FROM w_pieces GROUP BY idcar;

CREATE OR REPLACE TABLE w_density AS
WITH p AS (
    SELECT p.*, coalesce(s.share_in, 0) AS share_in, p.ind / p.cell_area AS dens
    FROM w_pieces p JOIN w_cell_share s USING (idcar)
    WHERE p.a > 0 AND p.ind IS NOT NULL
)
SELECT 'qpv' AS classe, code_qpv AS code, sum(dens * a) / sum(a) AS densite
FROM p WHERE code_qpv IS NOT NULL AND share_in >= $seuil GROUP BY code_qpv
UNION ALL
SELECT 'hors_qpv', code_iris, sum(dens * a) / sum(a)
FROM p WHERE code_qpv IS NULL AND share_in <= 1 - $seuil GROUP BY code_iris
UNION ALL
SELECT 'qpv_global', NULL, sum(dens * a) / nullif(sum(a), 0)
FROM p WHERE code_qpv IS NOT NULL AND share_in >= $seuil
UNION ALL
SELECT 'hors_qpv_global', NULL, sum(dens * a) / nullif(sum(a), 0)
FROM p WHERE code_qpv IS NULL AND share_in <= 1 - $seuil;

CREATE OR REPLACE TABLE w_piece_pop AS
WITH g AS (
    SELECT max(densite) FILTER (classe = 'qpv_global') AS g_in,
           max(densite) FILTER (classe = 'hors_qpv_global') AS g_out
    FROM w_density
),
r AS (
    SELECT p.idcar, p.ind, p.code_iris, p.code_qpv, p.a,
           greatest(coalesce(CASE WHEN p.code_qpv IS NOT NULL THEN dq.densite ELSE di.densite END,
                             CASE WHEN p.code_qpv IS NOT NULL THEN g.g_in ELSE g.g_out END, 1.0), 1e-12) AS rel
    FROM w_pieces p
    CROSS JOIN g
    LEFT JOIN w_density dq ON dq.classe = 'qpv' AND dq.code = p.code_qpv
    LEFT JOIN w_density di ON di.classe = 'hors_qpv' AND di.code = p.code_iris
)
SELECT idcar, code_iris, code_qpv,
       coalesce(ind, 0) * a * rel / nullif(sum(a * rel) OVER (PARTITION BY idcar), 0) AS pop
FROM r;

CREATE OR REPLACE TABLE w_zone AS
WITH p_i AS (
    SELECT code_iris, sum(pop) AS pop_iris FROM w_piece_pop GROUP BY code_iris
),
p_iq AS (
    SELECT code_iris, code_qpv, sum(pop) AS pop_in FROM w_piece_pop WHERE code_qpv IS NOT NULL GROUP BY ALL
),
cover AS (
    SELECT i.code_iris,
           CASE WHEN (SELECT count(*) FROM z_cover) = 0 THEN TRUE
                ELSE ST_Area(ST_Difference(i.geom, (SELECT ST_Union_Agg(geom) FROM z_cover))) <= 0.001 * ST_Area(i.geom)
           END AS covered
    FROM z_iris i
    WHERE i.code_iris IN (SELECT code_iris FROM w_pairs)
)
SELECT w.code_iris, w.code_qpv,
       w.area_in / w.iris_area                              AS poids_surface,
       CASE WHEN c.covered AND p_i.pop_iris > 0
            THEN coalesce(p_iq.pop_in, 0) / p_i.pop_iris END AS poids_carreaux,
       c.covered                                            AS iris_couverte
FROM w_pairs w
JOIN cover c USING (code_iris)
LEFT JOIN p_i USING (code_iris)
LEFT JOIN p_iq USING (code_iris, code_qpv);
