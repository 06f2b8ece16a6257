-- Where each kept establishment is: INSEE's own codes first, then the point in the polygons.
--
-- Why INSEE's codes first: the geolocation file gives, for each siret, the IRIS (local to its
-- commune: national code = plg_code_commune || plg_iris; CSZ = commune not split, HZ = no zone)
-- and the QPV (plg_qp15 / plg_qp24, HZ = outside any QPV), computed by INSEE on its own geocoding.
-- Where they are missing or the geocoding is poor (qualite_xy not in $qualites), the point goes
-- in our polygons: the file's x, y in its epsg, else the stock file's Lambert coordinates.
-- The geolocation file can hold a siret twice: the best geocoded row wins (then the smallest x),
-- so the choice does not depend on the order of the file.
CREATE OR REPLACE TABLE pf_geoloc AS
SELECT * EXCLUDE (rang) FROM (
    SELECT *, row_number() OVER (PARTITION BY siret ORDER BY qualite_xy NULLS LAST, x NULLS LAST, y) AS rang
    FROM raw_sirene_geolocalisation
    WHERE siret IN (SELECT siret FROM pf_candidats WHERE exclusion IS NULL)
) WHERE rang = 1;

CREATE OR REPLACE TABLE pf_points AS
WITH k AS (
    SELECT c.siret, c.profession, c.codeCommuneEtablissement AS code_commune_stock,
           c.coordonneeLambertAbscisseEtablissement AS lx, c.coordonneeLambertOrdonneeEtablissement AS ly,
           g.siret IS NOT NULL AS en_geoloc, g.x, g.y, g.epsg, g.qualite_xy, g.plg_code_commune, g.plg_iris,
           CASE WHEN $liste = '2024' THEN g.plg_qp24 ELSE g.plg_qp15 END AS plg_qp
    FROM pf_candidats c LEFT JOIN pf_geoloc g USING (siret)
    WHERE c.exclusion IS NULL
)
SELECT siret, profession, coalesce(plg_code_commune, code_commune_stock) AS code_commune,
    en_geoloc, qualite_xy,
    -- INSEE's codes, when the geocoding is good enough
    CASE WHEN qualite_xy IN (SELECT unnest($qualites)) AND plg_iris = 'CSZ' THEN plg_code_commune || '0000'
         WHEN qualite_xy IN (SELECT unnest($qualites)) AND plg_iris NOT IN ('', 'HZ') THEN plg_code_commune || plg_iris
    END AS iris_insee,
    CASE WHEN qualite_xy IN (SELECT unnest($qualites)) AND plg_qp LIKE 'Q%' THEN plg_qp
         WHEN qualite_xy IN (SELECT unnest($qualites)) AND plg_qp IN ('HZ', 'CSZ') THEN ''
    END AS qpv_insee,   -- '' = INSEE says: in no QPV
    -- the point: geolocation file first, then the stock file's Lambert coordinates
    CASE WHEN try_cast(x AS DOUBLE) IS NOT NULL AND try_cast(y AS DOUBLE) IS NOT NULL THEN try_cast(x AS DOUBLE)
         WHEN try_cast(lx AS DOUBLE) IS NOT NULL AND try_cast(ly AS DOUBLE) IS NOT NULL THEN try_cast(lx AS DOUBLE) END AS px,
    CASE WHEN try_cast(x AS DOUBLE) IS NOT NULL AND try_cast(y AS DOUBLE) IS NOT NULL THEN try_cast(y AS DOUBLE)
         WHEN try_cast(lx AS DOUBLE) IS NOT NULL AND try_cast(ly AS DOUBLE) IS NOT NULL THEN try_cast(ly AS DOUBLE) END AS py,
    CASE WHEN try_cast(x AS DOUBLE) IS NOT NULL AND try_cast(y AS DOUBLE) IS NOT NULL THEN try_cast(epsg AS INTEGER)
         WHEN try_cast(lx AS DOUBLE) IS NOT NULL AND try_cast(ly AS DOUBLE) IS NOT NULL THEN
              -- the stock file's Lambert coordinates are in the legal CRS of the territory
              CASE substr(coalesce(plg_code_commune, code_commune_stock), 1, 3)
                   WHEN '971' THEN 5490 WHEN '972' THEN 5490 WHEN '973' THEN 2972
                   WHEN '974' THEN 2975 WHEN '976' THEN 4471 ELSE 2154 END END AS pepsg,
    CASE WHEN (nullif(x, '') IS NOT NULL AND try_cast(x AS DOUBLE) IS NULL)
           OR (nullif(y, '') IS NOT NULL AND try_cast(y AS DOUBLE) IS NULL)
           OR (coalesce(lx, '') NOT IN ('', '[ND]') AND try_cast(lx AS DOUBLE) IS NULL) THEN 'coordonnée illisible'
         WHEN nullif(epsg, '') IS NOT NULL AND try_cast(epsg AS INTEGER) IS NULL THEN 'EPSG illisible'
         WHEN try_cast(epsg AS INTEGER) NOT IN (SELECT unnest($epsg_connus)) THEN 'EPSG inconnu'
    END AS anomalie
FROM k;
