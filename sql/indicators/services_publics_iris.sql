-- Public services per IRIS: the BPE equipments of the run's types ($types), over the population.
--
-- Why: the kit's "services publics / individu" (METHODS 1.5) counts the local bodies useful for
-- administrative procedures per inhabitant; the BPE locates them by IRIS.
-- - An IRIS of the BPE that the run knows: its own count.
-- - An IRIS code the run does not know, of a commune it knows (IRIS redrawn between the BPE's
--   geography and the census's, a commune split since): the equipments go to the commune's IRIS
--   in proportion to their population (equal parts if it has none), so that the commune's total
--   stays the BPE's; the run report counts them.
-- - A commune the run does not know: listed in bpe_non_rattaches and reported, never dropped
--   silently.
-- - The BPE lists every equipment of the départements it covers: an IRIS there without any
--   listed type has 0; an IRIS of a département the file does not cover has no count (NULL).
CREATE OR REPLACE TABLE bpe_listes AS
SELECT code_iris, code_commune, code_departement, typequ, nb_equip
FROM raw_insee_bpe
WHERE list_contains($types, typequ);

CREATE OR REPLACE TABLE iris_services_publics AS
WITH units AS (
    SELECT code_iris, code_commune, code_departement, coalesce(population, 0) AS pop
    FROM stg_iris
    WHERE in_rp
),
communes AS (
    SELECT code_commune, sum(pop) AS pop, count(*) AS n FROM units GROUP BY code_commune
),
own AS (
    SELECT code_iris, sum(nb_equip) AS n FROM bpe_listes
    WHERE code_iris IN (SELECT code_iris FROM units)
    GROUP BY code_iris
),
elsewhere AS (
    SELECT code_commune, sum(nb_equip) AS n FROM bpe_listes
    WHERE code_iris NOT IN (SELECT code_iris FROM units)
    GROUP BY code_commune
),
spread AS (
    SELECT u.code_iris, e.n * CASE WHEN c.pop > 0 THEN u.pop / c.pop ELSE 1.0 / c.n END AS n
    FROM elsewhere e
    JOIN units u USING (code_commune)
    JOIN communes c USING (code_commune)
),
covered AS (
    SELECT DISTINCT code_departement FROM raw_insee_bpe
)
SELECT
    u.code_iris,
    coalesce(o.n, 0) + coalesce(s.n, 0)   AS num_services_publics,
    coalesce(s.n, 0)                      AS services_publics_repartis
FROM units u
LEFT JOIN own o USING (code_iris)
LEFT JOIN spread s USING (code_iris)
WHERE u.code_departement IN (SELECT code_departement FROM covered);

CREATE OR REPLACE TABLE bpe_non_rattaches AS
SELECT code_commune AS code, sum(nb_equip) AS quantite
FROM bpe_listes
WHERE code_commune NOT IN (SELECT code_commune FROM stg_iris WHERE in_rp AND code_commune IS NOT NULL)
GROUP BY code_commune;
